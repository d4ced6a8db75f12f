%%% EUnit tests of the link's TLS options (docs/link-protocol.md, "TLS"):
%%% what a listener's tls, certfile, cafile and tls_verify give OTP's ssl.
-module(megaphone_transport_tests).

-include_lib("eunit/include/eunit.hrl").

opts(Extra) ->
    maps:merge(#{certfile => <<"/etc/megaphone/link.pem">>,
                 cafile => undefined, tls_verify => false}, Extra).

certfile_holds_the_chain_and_the_key_test() ->
    {ok, Options} = megaphone_transport:tls_options(opts(#{})),
    ?assertEqual("/etc/megaphone/link.pem", proplists:get_value(certfile, Options)),
    ?assertEqual("/etc/megaphone/link.pem", proplists:get_value(keyfile, Options)).

no_client_certificate_is_asked_for_by_default_test() ->
    {ok, Options} = megaphone_transport:tls_options(opts(#{})),
    ?assertEqual(verify_none, proplists:get_value(verify, Options)),
    ?assertEqual(false, proplists:get_value(client_renegotiation, Options)).

tls_verify_requires_a_certificate_from_cafile_test() ->
    {ok, Options} = megaphone_transport:tls_options(
                      opts(#{tls_verify => true, cafile => <<"/etc/megaphone/ca.pem">>})),
    ?assertEqual(verify_peer, proplists:get_value(verify, Options)),
    ?assertEqual(true, proplists:get_value(fail_if_no_peer_cert, Options)),
    ?assertEqual("/etc/megaphone/ca.pem", proplists:get_value(cacertfile, Options)).

tls_verify_without_cafile_is_refused_with_a_reason_test() ->
    ?assertEqual({error, no_cafile},
                 megaphone_transport:tls_options(opts(#{tls_verify => true}))),
    ?assertMatch("tls_verify is true" ++ _,
                 megaphone_transport:format_error(no_cafile)).

%%% EUnit tests of RFC 7395 framing of session content
%%% (docs/link-protocol.md, "Session content").
-module(megaphone_framing_tests).

-include_lib("eunit/include/eunit.hrl").
-include("fxml.hrl").
-include("megaphone_link.hrl").

-define(NS_FRAMING, ?MEGAPHONE_NS_FRAMING).
-define(NS_STREAM, ?MEGAPHONE_NS_STREAM).

decode(Content) ->
    megaphone_framing:decode(Content, 65536).

%%%-------------------------------------------------------------------
%%% Front end -> listener
%%%-------------------------------------------------------------------
open_becomes_a_stream_header_in_jabber_client_test() ->
    [{xmlstreamstart, <<"stream:stream">>, Attrs}] =
        decode(<<"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' "
                 "to='example.com' xml:lang='en' version='1.0'/>">>),
    ?assertEqual(<<"jabber:client">>, proplists:get_value(<<"xmlns">>, Attrs)),
    ?assertEqual(?NS_STREAM, proplists:get_value(<<"xmlns:stream">>, Attrs)),
    ?assertEqual(<<"example.com">>, proplists:get_value(<<"to">>, Attrs)),
    ?assertEqual(<<"1.0">>, proplists:get_value(<<"version">>, Attrs)),
    ?assertEqual(<<"en">>, proplists:get_value(<<"xml:lang">>, Attrs)),
    ?assertEqual(1, length([K || {K, _} <- Attrs, K == <<"xmlns">>])).

close_becomes_the_stream_end_test() ->
    ?assertEqual([{xmlstreamend, <<"stream:stream">>}],
                 decode(<<"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>">>)).

open_in_another_namespace_is_an_ordinary_element_test() ->
    ?assertMatch([#xmlel{name = <<"open">>}], decode(<<"<open/>">>)).

several_elements_and_whitespace_in_one_frame_test() ->
    Events = decode(<<" <presence/>\n<message to='a@b'><body>hi</body>"
                      "</message>\r\n<iq type='get' id='1'/> ">>),
    ?assertEqual([<<"presence">>, <<"message">>, <<"iq">>],
                 [Name || #xmlel{name = Name} <- Events]).

element_keeps_its_own_namespace_test() ->
    [#xmlel{name = <<"auth">>, attrs = Attrs}] =
        decode(<<"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                 "mechanism='PLAIN'>AGFsaWNlAHB3</auth>">>),
    ?assertEqual(<<"urn:ietf:params:xml:ns:xmpp-sasl">>,
                 proplists:get_value(<<"xmlns">>, Attrs)).

whitespace_only_content_has_no_events_test() ->
    ?assertEqual([], decode(<<" \n ">>)),
    ?assertEqual([], decode(<<>>)).

utf8_text_survives_decoding_test() ->
    [#xmlel{children = [#xmlel{children = [{xmlcdata, Text}]}]}] =
        decode(<<"<message><body>h\303\251 \360\237\230\200</body></message>">>),
    ?assertEqual(<<"h\303\251 \360\237\230\200">>, Text).

not_well_formed_content_is_a_stream_error_with_text_test() ->
    [{xmlstreamerror, {_, Text}}] = decode(<<"<message><body>hi</message>">>),
    ?assert(is_binary(Text)).

content_cannot_close_the_wrapping_root_test() ->
    ?assertMatch([{xmlstreamerror, {_, _}}], decode(<<"</m><x/><m>">>)),
    ?assertMatch([{xmlstreamerror, {_, _}}], decode(<<"<a/></m>">>)).

content_over_max_stanza_size_is_policy_violation_test() ->
    ?assertEqual([{xmlstreamerror, <<"XML stanza is too big">>}],
                 megaphone_framing:decode(<<"<presence/>">>, 5)),
    ?assertEqual([megaphone_framing:too_big()],
                 megaphone_framing:decode(<<"<presence/>">>, 5)),
    ?assertMatch([#xmlel{}], megaphone_framing:decode(<<"<presence/>">>, 11)),
    ?assertMatch([#xmlel{}],
                 megaphone_framing:decode(<<"<presence/>">>, infinity)).

%%%-------------------------------------------------------------------
%%% Listener -> front end
%%%-------------------------------------------------------------------
stream_header_becomes_a_framing_open_test() ->
    {header, Bin} = megaphone_framing:encode(
                      {xmlstreamstart, <<"stream:stream">>,
                       [{<<"xmlns">>, <<"jabber:client">>},
                        {<<"xmlns:stream">>, ?NS_STREAM},
                        {<<"from">>, <<"localhost">>}, {<<"id">>, <<"42">>},
                        {<<"version">>, <<"1.0">>}, {<<"xml:lang">>, <<"en">>}]}),
    #xmlel{name = <<"open">>, attrs = Attrs, children = []} =
        fxml_stream:parse_element(Bin),
    ?assertEqual(lists:sort([{<<"xmlns">>, ?NS_FRAMING},
                             {<<"from">>, <<"localhost">>}, {<<"id">>, <<"42">>},
                             {<<"version">>, <<"1.0">>},
                             {<<"xml:lang">>, <<"en">>}]),
                 lists:sort(Attrs)).

stream_end_becomes_a_framing_close_test() ->
    {trailer, Bin} = megaphone_framing:encode({xmlstreamend, <<"stream:stream">>}),
    ?assertEqual(#xmlel{name = <<"close">>, attrs = [{<<"xmlns">>, ?NS_FRAMING}]},
                 fxml_stream:parse_element(Bin)).

stream_features_carry_the_stream_namespace_test() ->
    {element, Bin} = megaphone_framing:encode(
                       {xmlstreamelement,
                        #xmlel{name = <<"stream:features">>,
                               children = [#xmlel{name = <<"bind">>,
                                                  attrs = [{<<"xmlns">>, <<"urn:ietf:params:xml:ns:xmpp-bind">>}]}]}}),
    #xmlel{name = <<"stream:features">>, attrs = Attrs} =
        fxml_stream:parse_element(Bin),
    ?assertEqual(?NS_STREAM, proplists:get_value(<<"xmlns:stream">>, Attrs)).

stream_error_is_reported_as_such_test() ->
    {stream_error, Bin} = megaphone_framing:encode(
                            {xmlstreamelement,
                             #xmlel{name = <<"stream:error">>,
                                    children = [#xmlel{name = <<"not-well-formed">>}]}}),
    ?assertMatch(#xmlel{name = <<"stream:error">>},
                 fxml_stream:parse_element(Bin)).

stanza_without_namespace_gets_jabber_client_test() ->
    {element, Bin} = megaphone_framing:encode(
                       {xmlstreamelement, #xmlel{name = <<"message">>,
                                                 attrs = [{<<"to">>, <<"a@b">>}]}}),
    #xmlel{attrs = Attrs} = fxml_stream:parse_element(Bin),
    ?assertEqual(<<"jabber:client">>, proplists:get_value(<<"xmlns">>, Attrs)).

element_with_a_namespace_is_left_alone_test() ->
    El = #xmlel{name = <<"success">>,
                attrs = [{<<"xmlns">>, <<"urn:ietf:params:xml:ns:xmpp-sasl">>}]},
    ?assertEqual({element, fxml:element_to_binary(El)},
                 megaphone_framing:encode({xmlstreamelement, El})).

whitespace_keepalives_are_not_sent_test() ->
    ?assertEqual(skip, megaphone_framing:encode({xmlstreamraw, <<"\r\n\r\n">>})),
    ?assertEqual(skip, megaphone_framing:encode({xmlstreamcdata, <<" ">>})).

%%%-------------------------------------------------------------------
%%% The names written are the header's (spec "Words")
%%%-------------------------------------------------------------------
name_of({_Kind, Bin}) ->
    #xmlel{name = Name} = fxml_stream:parse_element(Bin),
    Name.

output_names_are_the_framing_elements_in_order_test() ->
    Outputs = [{xmlstreamstart, <<"stream:stream">>, [{<<"id">>, <<"1">>}]},
               {xmlstreamend, <<"stream:stream">>},
               {xmlstreamelement, #xmlel{name = <<"stream:features">>}},
               {xmlstreamelement, #xmlel{name = <<"stream:error">>}}],
    ?assertEqual(?MEGAPHONE_FRAMING_ELEMENTS,
                 [name_of(megaphone_framing:encode(O)) || O <- Outputs]),
    ?assertEqual([header, trailer, element, stream_error],
                 [element(1, megaphone_framing:encode(O)) || O <- Outputs]).

stream_prefixed_outputs_bind_the_stream_namespace_test() ->
    [begin
         {_, Bin} = megaphone_framing:encode(
                      {xmlstreamelement, #xmlel{name = Name}}),
         #xmlel{attrs = Attrs} = fxml_stream:parse_element(Bin),
         ?assertEqual({Name, ?MEGAPHONE_NS_STREAM},
                      {Name, proplists:get_value(<<"xmlns:stream">>, Attrs)})
     end || <<"stream:", _/binary>> = Name <- ?MEGAPHONE_FRAMING_ELEMENTS].

framing_open_and_close_by_the_header_names_test() ->
    [Open, Close | _] = ?MEGAPHONE_FRAMING_ELEMENTS,
    El = fun(Name) -> <<"<", Name/binary, " xmlns='", ?NS_FRAMING/binary,
                        "'/>">> end,
    ?assertMatch([{xmlstreamstart, _, _}], decode(El(Open))),
    ?assertMatch([{xmlstreamend, _}], decode(El(Close))).

%%%-------------------------------------------------------------------
%%% The link's socket, plain TCP or TLS (docs/link-protocol.md, "TLS"):
%%% the calls megaphone_link and megaphone_session make on it, whichever
%%% it is. A plain socket is a port (gen_tcp); a TLS socket is OTP's ssl
%%% socket, upgraded from the accepted TCP socket before the handshake.
%%%
%%% Many session processes write to one link socket. With gen_tcp each send
%%% is one port command; with ssl each send is one call to the connection's
%%% sender process, which writes the whole binary as records before the next
%%% call. Either way frames from different sessions never interleave.
%%%-------------------------------------------------------------------
-module(megaphone_transport).

-export([tls_options/1, format_error/1, upgrade/3, send/2, activate/1, sockname/1,
         close/1, describe_tls/1]).

-export_type([socket/0]).

-type socket() :: inet:socket() | ssl:sslsocket().

%% The OTP ssl server options for a listener with `tls: true`, or the reason
%% there are none. `certfile` holds the certificate chain and its key, as
%% everywhere in ejabberd; without it, ejabberd's default certificate.
-spec tls_options(map()) -> {ok, [ssl:tls_server_option()]} |
                            {error, no_certfile | no_cafile}.
tls_options(#{certfile := CertFile0, cafile := CaFile,
              tls_verify := Verify}) ->
    CertFile = case CertFile0 of
                   undefined ->
                       case ejabberd_pkix:get_certfile() of
                           {ok, Default} -> Default;
                           error -> undefined
                       end;
                   _ -> CertFile0
               end,
    if CertFile == undefined ->
            {error, no_certfile};
       Verify andalso CaFile == undefined ->
            {error, no_cafile};
       true ->
            Path = binary_to_list(iolist_to_binary(CertFile)),
            Client = case Verify of
                         %% The front end must show a certificate that
                         %% `cafile` signed (mutual TLS).
                         true ->
                             [{verify, verify_peer},
                              {fail_if_no_peer_cert, true},
                              {cacertfile,
                               binary_to_list(iolist_to_binary(CaFile))}];
                         false ->
                             [{verify, verify_none}]
                     end,
            %% OTP's defaults otherwise: TLS 1.2 and 1.3, their cipher
            %% suites; no renegotiation from the client.
            {ok, [{certfile, Path}, {keyfile, Path},
                  {client_renegotiation, false} | Client]}
    end.

-spec format_error(no_certfile | no_cafile) -> string().
format_error(no_certfile) ->
    "tls is true, but the listener has no certfile and ejabberd has no "
    "certificate";
format_error(no_cafile) ->
    "tls_verify is true, but the listener has no cafile".

%% TLS on the accepted TCP socket (passive, as the listener hands it over).
-spec upgrade(inet:socket(), [ssl:tls_server_option()], timeout()) ->
          {ok, ssl:sslsocket()} | {error, term()}.
upgrade(Socket, Options, Timeout) ->
    ssl:handshake(Socket, [binary, {active, false} | Options], Timeout).

-spec send(socket(), iodata()) -> ok | {error, term()}.
send(Socket, Data) when is_port(Socket) ->
    gen_tcp:send(Socket, Data);
send(Socket, Data) ->
    ssl:send(Socket, Data).

%% The next data arrives as one message: {tcp, S, Data} or {ssl, S, Data}.
-spec activate(socket()) -> ok | {error, term()}.
activate(Socket) when is_port(Socket) ->
    inet:setopts(Socket, [{active, once}]);
activate(Socket) ->
    ssl:setopts(Socket, [{active, once}]).

-spec sockname(socket()) ->
          {ok, {inet:ip_address(), inet:port_number()}} | {error, term()}.
sockname(Socket) when is_port(Socket) ->
    inet:sockname(Socket);
sockname(Socket) ->
    ssl:sockname(Socket).

-spec close(socket()) -> ok.
close(Socket) when is_port(Socket) ->
    _ = gen_tcp:close(Socket),
    ok;
close(Socket) ->
    _ = ssl:close(Socket),
    ok.

%% For the log: what was negotiated, e.g. "TLS 1.3, TLS_AES_256_GCM_SHA384".
-spec describe_tls(ssl:sslsocket()) -> string().
describe_tls(Socket) ->
    case ssl:connection_information(Socket, [protocol, selected_cipher_suite])
    of
        {ok, Info} ->
            Version = proplists:get_value(protocol, Info),
            Suite = case proplists:get_value(selected_cipher_suite, Info) of
                        undefined -> "";
                        S -> ", " ++ unicode:characters_to_list(
                                            ssl:suite_to_str(S))
                    end,
            atom_to_list(Version) ++ Suite;
        {error, _} ->
            "TLS"
    end.

%%%-------------------------------------------------------------------
%%% One Megaphone link (docs/link-protocol.md): the process that owns an
%%% accepted TCP connection from the front end, started by
%%% megaphone_listener.
%%%
%%% It runs the handshake and the heartbeat, decodes frames, and routes each
%%% session's content to its megaphone_session process. Sessions are linked
%%% to it; it traps exits, so a session that crashes is dropped with
%%% `close <id>` and the link stays up, while a link that ends, for any
%%% reason, takes every session (and so every ejabberd_c2s) down with it.
%%%-------------------------------------------------------------------
-module(megaphone_link).
-behaviour(gen_server).

%% Listener API
-export([start/2, start_link/2, accept/1]).
%% gen_server callbacks
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2]).

-include("logger.hrl").
-include("megaphone_link.hrl").

-type options() :: megaphone_listener:options().

-record(state, {socket :: megaphone_transport:socket(),
                opts :: options(),
                %% accepting: not yet ours; handshake: challenge sent.
                phase = accepting :: accepting | handshake | ready,
                peer = "?" :: string(),
                nonce = <<>> :: binary(),
                decoder :: megaphone_codec:state() | undefined,
                %% The largest frame the front end accepts (its `auth`).
                peer_max_frame_size = 0 :: non_neg_integer(),
                sessions = #{} :: #{pos_integer() => pid()},
                conn_ids = #{} :: #{pid() => pos_integer()},
                last_recv_ms = 0 :: integer(),
                timer :: reference() | undefined}).
-type state() :: #state{}.
-type result() :: {ok, state()} | {stop, term(), state()}.

%%%===================================================================
%%% Listener API
%%%===================================================================
-spec start(inet:socket(), options()) -> {ok, pid()} | {error, term()}.
start(Socket, Opts) ->
    gen_server:start(?MODULE, {Socket, Opts}, []).

-spec start_link(inet:socket(), options()) -> {ok, pid()} | {error, term()}.
start_link(Socket, Opts) ->
    gen_server:start_link(?MODULE, {Socket, Opts}, []).

%% The socket is ours now (after gen_tcp:controlling_process).
-spec accept(pid()) -> ok.
accept(Pid) ->
    gen_server:cast(Pid, accept).

%%%===================================================================
%%% gen_server callbacks
%%%===================================================================
-spec init({inet:socket(), options()}) -> {ok, state()}.
init({Socket, Opts}) ->
    process_flag(trap_exit, true),
    {ok, #state{socket = Socket, opts = Opts}}.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, {error, badarg}, state()}.
handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

-spec handle_cast(term(), state()) ->
          {noreply, state()} | {stop, term(), state()}.
handle_cast(accept, #state{phase = accepting} = State) ->
    noreply(start_handshake(State));
handle_cast(_Msg, State) ->
    {noreply, State}.

-spec handle_info(term(), state()) ->
          {noreply, state()} | {stop, term(), state()}.
handle_info({ssl, Socket, Data}, State) ->
    handle_info({tcp, Socket, Data}, State);
handle_info({ssl_closed, Socket}, State) ->
    handle_info({tcp_closed, Socket}, State);
handle_info({ssl_error, Socket, Reason}, State) ->
    handle_info({tcp_error, Socket, Reason}, State);
handle_info({tcp, Socket, Data}, #state{socket = Socket} = State) ->
    State1 = State#state{last_recv_ms = now_ms()},
    case megaphone_codec:decode(Data, State1#state.decoder) of
        {ok, Frames, Decoder} ->
            noreply(activate(frames(Frames,
                                    State1#state{decoder = Decoder})));
        {error, Code, Offset} ->
            %% Spec "Frames": a malformed frame ends the link.
            ?WARNING_MSG("Megaphone link ~ts: malformed frame (~ts) at byte "
                         "offset ~B~ts", [State#state.peer,
                                          megaphone_codec:format_error(Code),
                                          Offset, tls_hint(Data, State)]),
            noreply(bye({malformed_frame, Code}, State1))
    end;
handle_info({tcp_closed, Socket}, #state{socket = Socket} = State) ->
    ?INFO_MSG("Megaphone link ~ts: closed by the front end",
              [State#state.peer]),
    {stop, {shutdown, closed}, State};
handle_info({tcp_error, Socket, Reason}, #state{socket = Socket} = State) ->
    ?WARNING_MSG("Megaphone link ~ts: socket error: ~ts",
                 [State#state.peer, format_socket_error(Reason)]),
    {stop, {shutdown, Reason}, State};
handle_info({timeout, Ref, handshake}, #state{timer = Ref} = State) ->
    noreply(bye(handshake_timeout, State));
handle_info({timeout, Ref, heartbeat}, #state{timer = Ref} = State) ->
    noreply(check_heartbeat(State));
handle_info({'EXIT', Pid, Reason}, State) ->
    noreply(session_ended(Pid, Reason, State));
handle_info(_Info, State) ->
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(Reason, #state{socket = Socket, sessions = Sessions} = State) ->
    case Reason of
        shutdown when State#state.phase == ready ->
            %% ejabberd is stopping (spec "Ending the link").
            _ = send_control({bye, shutdown}, State);
        _ ->
            ok
    end,
    megaphone_transport:close(Socket),
    %% Spec "Ending the link": every session ends with the link. Exit
    %% signals with a non-normal reason kill the (non-trapping) sessions;
    %% each c2s then sees its socket owner go down and closes.
    maps:foreach(fun(_Id, Pid) -> exit(Pid, {shutdown, link_closed}) end,
                 Sessions),
    case maps:size(Sessions) of
        0 -> ok;
        N -> ?INFO_MSG("Megaphone link ~ts: ended ~B session(s)",
                       [State#state.peer, N])
    end.

%%%===================================================================
%%% Handshake (spec "Handshake")
%%%===================================================================
-spec start_handshake(state()) -> result().
start_handshake(#state{socket = TcpSocket,
                        opts = #{send_timeout := SendTimeout}} = State) ->
    case inet:peername(TcpSocket) of
        {ok, Peer} ->
            ok = inet:setopts(TcpSocket, [{send_timeout, SendTimeout},
                                          {send_timeout_close, true}]),
            State0 = State#state{peer = format_peer(Peer)},
            case secure(TcpSocket, State0) of
                {ok, Socket} ->
                    challenge(State0#state{socket = Socket});
                {error, Why} ->
                    megaphone_transport:close(TcpSocket),
                    {stop, {shutdown, Why}, State0}
            end;
        {error, Why} ->
            {stop, {shutdown, Why}, State}
    end.

%% Spec "TLS": with `tls: true`, TLS first, within the handshake's time.
-spec secure(inet:socket(), state()) ->
          {ok, megaphone_transport:socket()} | {error, term()}.
secure(TcpSocket, #state{opts = #{tls := false}}) ->
    {ok, TcpSocket};
secure(TcpSocket, #state{opts = #{tls := true,
                                  heartbeat_timeout := TimeoutMs} = Opts,
                         peer = Peer}) ->
    case megaphone_transport:tls_options(Opts) of
        {ok, TlsOpts} ->
            case megaphone_transport:upgrade(TcpSocket, TlsOpts, TimeoutMs) of
                {ok, Socket} ->
                    ?INFO_MSG("Megaphone link ~ts: TLS established (~ts)",
                              [Peer, megaphone_transport:describe_tls(Socket)]),
                    {ok, Socket};
                {error, closed} ->
                    ?WARNING_MSG("Megaphone link ~ts: TLS handshake failed: "
                                 "the front end closed the connection (does "
                                 "it trust this listener's certificate?)",
                                 [Peer]),
                    {error, {tls, closed}};
                {error, Why} ->
                    ?WARNING_MSG("Megaphone link ~ts: TLS handshake failed: "
                                 "~ts", [Peer, format_socket_error(Why)]),
                    {error, {tls, Why}}
            end;
        {error, Why} ->
            ?ERROR_MSG("Megaphone link ~ts: refused: ~ts",
                       [Peer, megaphone_transport:format_error(Why)]),
            {error, Why}
    end.

-spec challenge(state()) -> result().
challenge(#state{opts = Opts} = State) ->
    #{max_frame_size := MaxFrame, heartbeat_timeout := HeartbeatMs} = Opts,
    Nonce = hex(crypto:strong_rand_bytes(16)),
    State1 = State#state{phase = handshake,
                         nonce = Nonce,
                         decoder = megaphone_codec:new(MaxFrame),
                         last_recv_ms = now_ms(),
                         timer = erlang:start_timer(HeartbeatMs, self(),
                                                    handshake)},
    activate(tell({challenge, ?MEGAPHONE_PROTOCOL_VERSION, Nonce}, State1)).

-spec handshake(binary(), state()) -> result().
handshake(Content, #state{opts = #{secret := Secret}, nonce = Nonce} = State) ->
    case megaphone_codec:parse_control(Content) of
        {auth, ?MEGAPHONE_PROTOCOL_VERSION, Hmac, PeerMax} ->
            Expected = hex(crypto:mac(hmac, sha256, Secret, Nonce)),
            case crypto:hash_equals(Expected, Hmac) of
                true -> ready(PeerMax, State);
                false -> deny(bad_secret, State)
            end;
        {auth, _Vsn, _Hmac, _PeerMax} ->
            deny(bad_version, State);
        {error, {bad_arguments, auth}} ->
            case auth_version(Content) of
                other -> deny(bad_version, State);
                _ -> deny(malformed_auth, State)
            end;
        _ ->
            bye(handshake_required, State)
    end.

%% `auth 2 …` in a shape this version does not know is still a version
%% mismatch, not a malformed auth. Only called on content that the codec
%% read as `auth` with bad arguments.
-spec auth_version(binary()) -> ours | other | unknown.
auth_version(Content) ->
    Ours = integer_to_binary(?MEGAPHONE_PROTOCOL_VERSION),
    case binary:split(Content, <<" ">>, [global]) of
        [_Auth, Ours | _] -> ours;
        [_Auth, Vsn | _] when Vsn /= <<>> ->
            case lists:all(fun(C) -> C >= $0 andalso C =< $9 end,
                           binary_to_list(Vsn)) of
                true -> other;
                false -> unknown
            end;
        _ -> unknown
    end.

-spec ready(pos_integer(), state()) -> result().
ready(PeerMax, #state{opts = Opts} = State) ->
    #{max_frame_size := MaxFrame, heartbeat_timeout := HeartbeatMs} = Opts,
    cancel_timer(State),
    State1 = State#state{phase = ready, peer_max_frame_size = PeerMax,
                         nonce = <<>>,
                         timer = erlang:start_timer(HeartbeatMs, self(),
                                                    heartbeat)},
    case send_control({ready, ?MEGAPHONE_PROTOCOL_VERSION, MaxFrame,
                       HeartbeatMs}, State1) of
        ok ->
            ?INFO_MSG("Megaphone link ~ts: ready (front end accepts frames "
                      "up to ~B bytes)", [State#state.peer, PeerMax]),
            {ok, State1};
        {error, Why} ->
            {stop, {shutdown, Why}, State1}
    end.

-spec deny(megaphone_codec:denied_reason(), state()) -> result().
deny(Reason, State) ->
    Control = {denied, Reason},
    ?WARNING_MSG("Megaphone link ~ts: handshake refused: ~ts",
                 [State#state.peer, megaphone_codec:format_control(Control)]),
    last_word(Control, Reason, State).

%%%===================================================================
%%% Frames
%%%===================================================================
-spec frames([megaphone_codec:frame()], state()) -> result().
frames([], State) ->
    {ok, State};
frames([Frame | Frames], State) ->
    case frame(Frame, State) of
        {ok, State1} -> frames(Frames, State1);
        Stop -> Stop
    end.

-spec frame(megaphone_codec:frame(), state()) -> result().
frame({?MEGAPHONE_CONTROL_ID, Content}, #state{phase = handshake} = State) ->
    handshake(Content, State);
frame({_ConnId, _Content}, #state{phase = handshake} = State) ->
    %% Spec "Handshake": no session frame before the handshake succeeds.
    bye(handshake_required, State);
frame({?MEGAPHONE_CONTROL_ID, Content}, State) ->
    control(megaphone_codec:parse_control(Content), State);
frame({ConnId, Content}, #state{sessions = Sessions} = State) ->
    case maps:find(ConnId, Sessions) of
        {ok, Pid} ->
            megaphone_session:deliver(Pid, Content),
            {ok, State};
        error ->
            %% Spec "Sessions": unknown IDs are answered, the link stays up.
            ?DEBUG("Megaphone link ~ts: frame for unknown connection ~B",
                   [State#state.peer, ConnId]),
            tell({close, ConnId, unknown_id}, State)
    end.

%% Control messages once the link is ready (spec "Sessions", "Heartbeat").
-spec control(megaphone_codec:control() | {error, term()}, state()) ->
          result().
control({open, ConnId, IP, Port}, #state{sessions = Sessions} = State) ->
    case maps:is_key(ConnId, Sessions) of
        true -> bye(duplicate_id, State);
        false -> open_session(ConnId, {IP, Port}, State)
    end;
control({close, ConnId, Reason}, #state{sessions = Sessions} = State) ->
    %% Spec "Sessions": a reason word this side does not know (a binary
    %% from the codec) ends the session all the same, and is logged.
    is_binary(Reason) andalso
        ?INFO_MSG("Megaphone link ~ts: connection ~B closed with a reason "
                  "this listener does not know: ~ts",
                  [State#state.peer, ConnId, Reason]),
    case maps:take(ConnId, Sessions) of
        {Pid, Sessions1} ->
            ?DEBUG("Megaphone link ~ts: connection ~B closed by the front "
                   "end (~p)", [State#state.peer, ConnId, Reason]),
            exit(Pid, {shutdown, peer_closed}),
            {ok, State#state{sessions = Sessions1,
                             conn_ids = maps:remove(Pid,
                                                    State#state.conn_ids)}};
        error ->
            %% Already ended on this side; its `close` is on its way.
            {ok, State}
    end;
control({ping, N}, State) ->
    tell({pong, N}, State);
control({pong, _N}, State) ->
    {ok, State};
control({bye, Reason}, State) ->
    ?INFO_MSG("Megaphone link ~ts: front end said bye (~ts)",
              [State#state.peer,
               megaphone_codec:format_control({bye, Reason})]),
    megaphone_transport:close(State#state.socket),
    {stop, {shutdown, peer_bye}, State};
control(Other, State) ->
    ?WARNING_MSG("Megaphone link ~ts: unexpected control message: ~ts",
                 [State#state.peer, format_unexpected(Other)]),
    bye(unknown_control, State).

-spec open_session(pos_integer(), {inet:ip_address(), inet:port_number()},
                   state()) -> result().
open_session(ConnId, Peer, #state{opts = Opts} = State) ->
    Config = #{link_socket => State#state.socket,
               conn_id => ConnId,
               peer => Peer,
               max_stanza_size => maps:get(max_stanza_size, Opts),
               max_frame_size => maps:get(max_frame_size, Opts),
               peer_max_frame_size => State#state.peer_max_frame_size,
               access => maps:get(access, Opts),
               shaper => maps:get(shaper, Opts)},
    case megaphone_session:start_link(Config) of
        {ok, Pid} ->
            {ok, State#state{
                   sessions = maps:put(ConnId, Pid, State#state.sessions),
                   conn_ids = maps:put(Pid, ConnId, State#state.conn_ids)}};
        Error ->
            ?WARNING_MSG("Megaphone link ~ts: connection ~B: failed to start "
                         "session: ~p", [State#state.peer, ConnId, Error]),
            tell({close, ConnId, open_failed}, State)
    end.

%% A session process ended. `normal` means it sent its own `close <id>`.
-spec session_ended(pid(), term(), state()) -> result().
session_ended(Pid, Reason, #state{conn_ids = ConnIds} = State) ->
    case maps:take(Pid, ConnIds) of
        {ConnId, ConnIds1} ->
            State1 = State#state{
                       conn_ids = ConnIds1,
                       sessions = maps:remove(ConnId, State#state.sessions)},
            case Reason of
                normal ->
                    {ok, State1};
                _ ->
                    ?ERROR_MSG("Megaphone link ~ts: connection ~B: session "
                               "process failed: ~p",
                               [State#state.peer, ConnId, Reason]),
                    tell({close, ConnId, shutdown}, State1)
            end;
        error ->
            %% Closed by the front end, or failed to start.
            {ok, State}
    end.

%%%===================================================================
%%% Heartbeat and ending the link
%%%===================================================================

%% Spec "Heartbeat": any frame is a sign of life.
-spec check_heartbeat(state()) -> result().
check_heartbeat(#state{opts = #{heartbeat_timeout := TimeoutMs},
                       last_recv_ms = Last} = State) ->
    case now_ms() - Last of
        Silent when Silent >= TimeoutMs ->
            bye(heartbeat_timeout, State);
        Silent ->
            {ok, State#state{timer = erlang:start_timer(
                                       TimeoutMs - Silent, self(),
                                       heartbeat)}}
    end.

%% Spec "Ending the link": `bye <reason>` is the last frame.
-spec bye(megaphone_codec:bye_reason(), state()) -> result().
bye(Reason, State) ->
    Control = {bye, Reason},
    ?WARNING_MSG("Megaphone link ~ts: closing: ~ts (~B session(s))",
                 [State#state.peer, megaphone_codec:format_control(Control),
                  maps:size(State#state.sessions)]),
    last_word(Control, Reason, State).

%% Spec "Ending the link": the last frame says why, then the socket closes.
-spec last_word(megaphone_codec:control(), term(), state()) -> result().
last_word(Control, Reason, State) ->
    _ = send_control(Control, State),
    megaphone_transport:close(State#state.socket),
    {stop, {shutdown, Reason}, State}.

%%%===================================================================
%%% Helpers
%%%===================================================================
-spec send_control(megaphone_codec:control(), state()) -> ok | {error, term()}.
send_control(Control, #state{socket = Socket}) ->
    megaphone_transport:send(Socket,
                 megaphone_codec:encode(?MEGAPHONE_CONTROL_ID,
                                        megaphone_codec:format_control(Control))).

%% Sends a control message; a link that cannot be written to is over.
-spec tell(megaphone_codec:control(), state()) -> result().
tell(Control, State) ->
    case send_control(Control, State) of
        ok -> {ok, State};
        {error, Why} -> {stop, {shutdown, Why}, State}
    end.

-spec activate(result()) -> result().
activate({ok, #state{socket = Socket} = State}) ->
    case megaphone_transport:activate(Socket) of
        ok -> {ok, State};
        {error, Why} -> {stop, {shutdown, Why}, State}
    end;
activate(Stop) ->
    Stop.

-spec noreply(result()) -> {noreply, state()} | {stop, term(), state()}.
noreply({ok, State}) -> {noreply, State};
noreply({stop, Reason, State}) -> {stop, Reason, State}.

-spec cancel_timer(state()) -> ok.
cancel_timer(#state{timer = undefined}) ->
    ok;
cancel_timer(#state{timer = Ref}) ->
    _ = erlang:cancel_timer(Ref),
    receive {timeout, Ref, _} -> ok after 0 -> ok end.

-spec now_ms() -> integer().
now_ms() ->
    erlang:monotonic_time(millisecond).

-spec hex(binary()) -> binary().
hex(Bin) ->
    << <<(hex_digit(N))>> || <<N:4>> <= Bin >>.

-spec hex_digit(0..15) -> byte().
hex_digit(N) when N < 10 -> $0 + N;
hex_digit(N) -> $a + N - 10.

%% A TLS record where the first frame should be: the front end has TLS on
%% (MEGAPHONE_LINK_TLS) and this listener has not (spec "TLS").
-spec tls_hint(binary(), state()) -> string().
tls_hint(<<16#16, 3, _/binary>>, #state{phase = handshake}) ->
    ": this looks like a TLS handshake; the front end has TLS on the link, "
    "this listener has not (tls: true)";
tls_hint(_Data, _State) ->
    "".

%% Socket errors are POSIX codes from gen_tcp, or TLS alerts from ssl.
-spec format_socket_error(term()) -> string().
format_socket_error(Reason) when is_atom(Reason) ->
    case inet:format_error(Reason) of
        "unknown POSIX error" -> atom_to_list(Reason);
        Text -> Text
    end;
format_socket_error(Reason) ->
    ssl:format_error(Reason).

-spec format_peer({inet:ip_address(), inet:port_number()}) -> string().
format_peer({IP, Port}) ->
    inet:ntoa(IP) ++ ":" ++ integer_to_list(Port).

-spec format_unexpected(megaphone_codec:control() | {error, term()}) ->
          binary().
format_unexpected({error, Why}) ->
    megaphone_codec:format_control_error(Why);
format_unexpected(Control) ->
    megaphone_codec:format_control(Control).

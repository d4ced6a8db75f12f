%%%-------------------------------------------------------------------
%%% One session on a Megaphone link: the socket of one ejabberd_c2s, in
%%% element mode (as ejabberd_http_ws is for websocket clients).
%%%
%%% The link process hands this process the content of each frame for its
%%% connection ID; this process parses it (RFC 7395 framing) and gives the
%%% elements to the c2s when the c2s asks for more ({active, once}). The
%%% c2s calls the xmpp_socket callbacks below from its own process.
%%%
%%% Who writes to the link socket: this process, with megaphone_transport:send
%%% on the socket the link process owns. One send is one port command (or,
%%% over TLS, one call to the connection's sender), so frames from many
%%% sessions never interleave, and over plain TCP no single process
%%% serialises the output of every session. Going through this process
%%% (rather than writing from the c2s) keeps the per-session rules in one
%%% place: nothing is written after `close <id>`, and `close <id>` is written
%%% exactly once. The c2s serialises the element before the call, so the
%%% call carries a binary. A front end that stops reading blocks the writer
%%% for at most send_timeout; then the socket closes and the link ends.
%%%-------------------------------------------------------------------
-module(megaphone_session).
-behaviour(gen_server).
-behaviour(xmpp_socket).

%% Link API
-export([start_link/1, deliver/2]).
%% Diagnostics
-export([info/1]).
%% xmpp_socket callbacks, called by the ejabberd_c2s
-export([send_xml/2, setopts/2, get_owner/1, get_transport/1, peername/1,
         sockname/1, change_shaper/2, reset_stream/1, controlling_process/2,
         close/1]).
%% gen_server callbacks
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2, code_change/3]).

-include("logger.hrl").
-include("megaphone_link.hrl").

-export_type([config/0, socket/0, info/0]).

%% What the link process gives each session.
-type config() :: #{link_socket := megaphone_transport:socket(),
                    conn_id := pos_integer(),
                    peer := {inet:ip_address(), inet:port_number()},
                    max_stanza_size := pos_integer() | infinity,
                    max_frame_size := pos_integer(),
                    peer_max_frame_size := pos_integer(),
                    access := atom(),
                    shaper := atom()}.

%% What info/1 tells: the session's connection ID, its c2s, and the socket
%% of the link it is on.
-type info() :: #{conn_id := pos_integer(), c2s := pid(),
                  link := megaphone_transport:socket()}.

%% The socket term the c2s holds: small, since every c2s keeps one.
-record(megaphone_socket, {pid :: pid(),
                           link_socket :: megaphone_transport:socket(),
                           peer :: {inet:ip_address(), inet:port_number()}}).
-type socket() :: #megaphone_socket{}.

-define(HELD_LIMIT_FACTOR, 16).
%% Memory per session is the product's main number. After this long
%% without a message, the session asks for a garbage collection of its c2s
%% (which never hibernates, and keeps the garbage of its last burst of work:
%% about 40 KiB after a login, 9 KiB after a collection) and hibernates.
-define(IDLE_MS, 2000).
%% The first few times, sooner: a login leaves its garbage in the c2s (SASL,
%% bind, roster, presence), and while thousands of sessions log in at once,
%% 2 s of it each adds up to a peak that the VM's allocators keep resident
%% after the collections (docs/bench-rss.md). A few idle periods rather than
%% one, because a client's round trips during its login may be longer than
%% ?FIRST_IDLE_MS. Afterwards a chatty session is collected as before.
-define(FIRST_IDLE_MS, 200).
-define(SHORT_IDLES, 5).

-record(state, {socket :: socket(),
                conn_id :: pos_integer(),
                c2s :: pid(),
                c2s_ref :: reference(),
                max_stanza_size :: pos_integer() | infinity,
                %% Spec "Flow control": held input over 16 x max_stanza_size
                %% ends the session.
                held_limit :: pos_integer(),
                %% The largest frame the front end accepts (its `auth`).
                peer_max_frame_size :: pos_integer(),
                %% The c2s asked for more input.
                active = false :: boolean(),
                %% The shaper asked for a pause before the next delivery.
                paused = false :: boolean(),
                held = [] :: [megaphone_framing:input()],  % newest first
                held_bytes = 0 :: non_neg_integer(),
                shaper = none :: none | p1_shaper:state(),
                %% An error event was handed over: the c2s is ending.
                input_closed = false :: boolean(),
                %% ejabberd sent a stream error: `close <id> stream-error`.
                stream_error = false :: boolean(),
                %% Idle periods left that end after ?FIRST_IDLE_MS.
                short_idles = ?SHORT_IDLES :: non_neg_integer()}).
-type state() :: #state{}.


%%%===================================================================
%%% Link API
%%%===================================================================

%% Starts the session process and its ejabberd_c2s, linked to the caller.
-spec start_link(config()) -> {ok, pid()} | {error, term()} | ignore.
start_link(Config) ->
    gen_server:start_link(?MODULE, Config, []).

%% The content of one frame for this session.
-spec deliver(pid(), binary()) -> ok.
deliver(Pid, Content) ->
    Pid ! {?MODULE, frame, Content},
    ok.

%%%===================================================================
%%% Diagnostics
%%%===================================================================

%% For megaphone_ctl (tests, benchmarks): which c2s and link this is.
-spec info(pid()) -> info().
info(Pid) ->
    gen_server:call(Pid, info, 5000).

%%%===================================================================
%%% xmpp_socket callbacks (in the c2s process)
%%%===================================================================
-spec send_xml(socket(), megaphone_framing:output()) -> ok | {error, atom()}.
send_xml(#megaphone_socket{pid = Pid}, StreamEl) ->
    case megaphone_framing:encode(StreamEl) of
        skip ->
            ok;
        {Kind, Content} ->
            try gen_server:call(Pid, {send, Kind, Content}, infinity)
            catch exit:_ -> {error, closed}
            end
    end.

-spec setopts(socket(), [{active, once}]) -> ok.
setopts(#megaphone_socket{pid = Pid}, Opts) ->
    case lists:member({active, once}, Opts) of
        true -> gen_server:cast(Pid, activate);
        false -> ok
    end.

%% Not the c2s itself: xmpp_socket then uses element mode and the c2s
%% monitors this process, so a dead session ends its stream.
-spec get_owner(socket()) -> pid().
get_owner(#megaphone_socket{pid = Pid}) ->
    Pid.

%% These are BOSH clients; ejabberd accepts only its own transport names.
-spec get_transport(socket()) -> http_bind.
get_transport(_Socket) ->
    http_bind.

%% The browser's address from `open` (spec "Sessions").
-spec peername(socket()) -> {ok, {inet:ip_address(), inet:port_number()}}.
peername(#megaphone_socket{peer = Peer}) ->
    {ok, Peer}.

-spec sockname(socket()) -> {ok, {inet:ip_address(), inet:port_number()}}.
sockname(#megaphone_socket{link_socket = LinkSocket}) ->
    case megaphone_transport:sockname(LinkSocket) of
        {ok, _} = Ok -> Ok;
        {error, _} -> {ok, {{0, 0, 0, 0}, 0}}
    end.

-spec change_shaper(socket(), none | p1_shaper:state()) -> ok.
change_shaper(#megaphone_socket{pid = Pid}, Shaper) ->
    gen_server:cast(Pid, {shaper, Shaper}).

%% Each frame is parsed on its own, so a stream restart needs nothing here.
-spec reset_stream(socket()) -> socket().
reset_stream(Socket) ->
    Socket.

-spec controlling_process(socket(), pid()) -> ok.
controlling_process(_Socket, _Pid) ->
    ok.

-spec close(socket()) -> ok.
close(#megaphone_socket{pid = Pid}) ->
    try gen_server:call(Pid, close, infinity)
    catch exit:_ -> ok
    end.

%%%===================================================================
%%% gen_server callbacks
%%%===================================================================
-spec init(config()) -> {ok, state(), timeout()} | {stop, term()} | ignore.
init(#{link_socket := LinkSocket, conn_id := ConnId, peer := Peer,
       max_stanza_size := MaxStanza, max_frame_size := MaxFrame,
       peer_max_frame_size := PeerMaxFrame,
       access := Access, shaper := Shaper}) ->
    Socket = #megaphone_socket{pid = self(), link_socket = LinkSocket,
                               peer = Peer},
    %% The same per-listener options a c2s listener passes; never TLS.
    C2SOpts = [{access, Access}, {shaper, Shaper},
               {max_stanza_size, MaxStanza}],
    case ejabberd_c2s:start(?MODULE, Socket, C2SOpts) of
        {ok, C2S} ->
            Ref = erlang:monitor(process, C2S),
            ejabberd_c2s:accept(C2S),
            {ok, #state{socket = Socket, conn_id = ConnId,
                        c2s = C2S, c2s_ref = Ref,
                        max_stanza_size = MaxStanza,
                        held_limit = ?HELD_LIMIT_FACTOR *
                            min(MaxStanza, MaxFrame),
                        peer_max_frame_size = PeerMaxFrame}, ?FIRST_IDLE_MS};
        {error, Reason} ->
            {stop, Reason};
        ignore ->
            ignore
    end.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, term(), state(), timeout()} |
          {stop, normal, term(), state()}.
handle_call({send, _Kind, Content},
            _From, #state{peer_max_frame_size = PeerMax} = State)
  when byte_size(Content) + ?MEGAPHONE_HEADER_BYTES > PeerMax ->
    %% Spec "Handshake": never send a frame larger than the other side's
    %% maximum; one element per frame, so the session cannot go on.
    ?WARNING_MSG("Megaphone session ~B (~ts): ~B-byte element exceeds the "
                 "front end's maximum frame; closing the session",
                 [State#state.conn_id, format_peer(State),
                  byte_size(Content)]),
    send_close(frame_too_large, State),
    {stop, normal, {error, emsgsize}, State};
handle_call({send, Kind, Content}, _From, State) ->
    State1 = case Kind of
                 stream_error -> State#state{stream_error = true};
                 _ -> State
             end,
    {reply, send_frame(State#state.conn_id, Content, State), State1,
     idle_ms(State)};
handle_call(info, _From, #state{socket = Socket} = State) ->
    Info = #{conn_id => State#state.conn_id, c2s => State#state.c2s,
             link => Socket#megaphone_socket.link_socket},
    {reply, Info, State, idle_ms(State)};
handle_call(close, _From, State) ->
    send_close(close_reason(State), State),
    {stop, normal, ok, State};
handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State, idle_ms(State)}.

-spec handle_cast(term(), state()) -> {noreply, state(), timeout()}.
handle_cast(activate, State) ->
    noreply(deliver_held(State#state{active = true}));
handle_cast({shaper, Shaper}, State) ->
    noreply(State#state{shaper = Shaper});
handle_cast(_Msg, State) ->
    noreply(State).

-spec handle_info(term(), state()) ->
          {noreply, state(), timeout() | hibernate} | {stop, normal, state()}.
handle_info({?MODULE, frame, _Content}, #state{input_closed = true} = State) ->
    noreply(State);
handle_info({?MODULE, frame, Content}, State) ->
    noreply(hold(Content, State));
handle_info({?MODULE, resume}, State) ->
    noreply(deliver_held(State#state{paused = false}));
handle_info(timeout, #state{c2s = C2S} = State) ->
    %% Idle (see ?IDLE_MS). garbage_collect/1 on another process waits for
    %% that process to run the collection; false if it has ended. Twice:
    %% the first collection sizes the new heap for the garbage it just had,
    %% the second for what is live (about 3 KiB less per idle session,
    %% docs/bench-link-memory.md).
    _ = erlang:garbage_collect(C2S),
    _ = erlang:garbage_collect(C2S),
    {noreply, State#state{short_idles = max(0, State#state.short_idles - 1)}, hibernate};
handle_info({'DOWN', Ref, process, _, Info}, #state{c2s_ref = Ref} = State) ->
    %% The c2s ended without closing its socket (killed, crashed).
    Reason = case Info of
                 normal -> close_reason(State);
                 _ -> shutdown
             end,
    send_close(Reason, State),
    {stop, normal, State};
handle_info(_Info, State) ->
    noreply(State).

-spec noreply(state()) -> {noreply, state(), timeout()}.
noreply(State) ->
    {noreply, State, idle_ms(State)}.

-spec idle_ms(state()) -> timeout().
idle_ms(#state{short_idles = 0}) -> ?IDLE_MS;
idle_ms(#state{}) -> ?FIRST_IDLE_MS.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, _State) ->
    ok.

-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%%===================================================================
%%% Input: front end -> c2s
%%%===================================================================
-spec hold(binary(), state()) -> state().
hold(Content, #state{held_bytes = HeldBytes, held_limit = Limit} = State)
  when HeldBytes + byte_size(Content) > Limit ->
    %% Spec "Flow control": too much held input is a policy violation.
    ?INFO_MSG("Megaphone session ~B (~ts): held input over ~B bytes; "
              "ending the session", [State#state.conn_id,
                                     format_peer(State), Limit]),
    State#state.c2s ! {tcp, State#state.socket, [megaphone_framing:too_big()]},
    State#state{held = [], held_bytes = 0, input_closed = true};
hold(Content, #state{held = Held, held_bytes = HeldBytes,
                     max_stanza_size = MaxStanza} = State) ->
    case megaphone_framing:decode(Content, MaxStanza) of
        [] ->
            State;
        Events ->
            Closed = lists:any(fun(E) -> element(1, E) == xmlstreamerror end,
                               Events),
            deliver_held(
              State#state{held = lists:reverse(Events, Held),
                          held_bytes = HeldBytes + byte_size(Content),
                          input_closed = Closed})
    end.

%% Hands everything held to the c2s in one message, as an element-mode
%% socket does, if the c2s asked for it and the shaper allows.
-spec deliver_held(state()) -> state().
deliver_held(#state{active = true, paused = false, held = [_ | _] = Held,
                    held_bytes = Bytes, shaper = Shaper} = State) ->
    State#state.c2s ! {tcp, State#state.socket, lists:reverse(Held)},
    {Shaper1, PauseMs} = shaper_update(Shaper, Bytes),
    Paused = PauseMs > 0,
    Paused andalso erlang:send_after(PauseMs, self(), {?MODULE, resume}),
    State#state{active = false, paused = Paused, held = [], held_bytes = 0,
                shaper = Shaper1};
deliver_held(State) ->
    State.

-spec shaper_update(none | p1_shaper:state(), non_neg_integer()) ->
          {none | p1_shaper:state(), non_neg_integer()}.
shaper_update(none, _Bytes) ->
    {none, 0};
shaper_update(Shaper, Bytes) ->
    p1_shaper:update(Shaper, Bytes).

%%%===================================================================
%%% Output: c2s -> front end
%%%===================================================================
-spec send_frame(megaphone_codec:conn_id(), iodata(), state()) ->
          ok | {error, atom()}.
send_frame(ConnId, Content, #state{socket = Socket}) ->
    megaphone_transport:send(Socket#megaphone_socket.link_socket,
                 megaphone_codec:encode(ConnId, Content)).

%% Spec "Sessions": `close <id> <reason>`, once; the process stops after it.
-spec send_close(megaphone_codec:close_reason(), state()) -> ok.
send_close(Reason, #state{conn_id = ConnId} = State) ->
    Control = megaphone_codec:format_control({close, ConnId, Reason}),
    _ = send_frame(?MEGAPHONE_CONTROL_ID, Control, State),
    ok.

-spec close_reason(state()) -> megaphone_codec:close_reason().
close_reason(#state{stream_error = true}) -> stream_error;
close_reason(#state{}) -> normal.

-spec format_peer(state()) -> string().
format_peer(#state{socket = #megaphone_socket{peer = {IP, Port}}}) ->
    inet:ntoa(IP) ++ ":" ++ integer_to_list(Port).

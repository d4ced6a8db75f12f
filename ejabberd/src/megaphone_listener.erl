%%%-------------------------------------------------------------------
%%% The ejabberd listener module for Megaphone links (docs/link-protocol.md):
%%% what `module: megaphone_listener` in ejabberd.yml names. It validates the
%%% listener's options, holds their defaults, and starts one megaphone_link
%%% process per accepted TCP connection.
%%%-------------------------------------------------------------------
-module(megaphone_listener).
-behaviour(ejabberd_listener).

%% ejabberd_listener API
-export([start/3, start_link/3, accept/1, listen_opt_type/1,
         listen_options/0]).

-include("megaphone_link.hrl").

-export_type([options/0]).

%% Every option, defaults filled in, as each link process reads them.
-type options() :: #{secret := binary(),
                     max_frame_size := pos_integer(),
                     max_stanza_size := pos_integer() | infinity,
                     access := atom(),
                     shaper := atom(),
                     heartbeat_timeout := pos_integer(),
                     send_timeout := pos_integer() | infinity,
                     tls := boolean(),
                     certfile := binary() | undefined,
                     cafile := binary() | undefined,
                     tls_verify := boolean()}.

%% ejabberd_listener's own default for its generic send_timeout option.
-define(LISTENER_SEND_TIMEOUT_MS, 15000).

%%%===================================================================
%%% ejabberd_listener API
%%%===================================================================
-spec start(gen_tcp, inet:socket(), [{atom(), term()}]) ->
          {ok, pid()} | {error, term()}.
start(gen_tcp, Socket, Opts) ->
    megaphone_link:start(Socket, options(Opts)).

-spec start_link(gen_tcp, inet:socket(), [{atom(), term()}]) ->
          {ok, pid()} | {error, term()}.
start_link(gen_tcp, Socket, Opts) ->
    megaphone_link:start_link(Socket, options(Opts)).

%% The socket belongs to the link process now (gen_tcp:controlling_process).
-spec accept(pid()) -> ok.
accept(Pid) ->
    megaphone_link:accept(Pid).

-spec listen_opt_type(atom()) -> econf:validator().
listen_opt_type(secret) ->
    econf:non_empty(econf:binary());
listen_opt_type(max_frame_size) ->
    econf:int(?MEGAPHONE_HEADER_BYTES * 2, 9999999999);
listen_opt_type(max_stanza_size) ->
    econf:pos_int(infinity);
listen_opt_type(access) ->
    econf:acl();
listen_opt_type(shaper) ->
    econf:shaper();
listen_opt_type(heartbeat_timeout) ->
    econf:timeout(second);
%% docs/link-protocol.md "TLS": the link over TLS (OTP's ssl), for a front
%% end on another host.
listen_opt_type(tls) ->
    econf:bool();
%% The certificate chain and its key, in one PEM file; ejabberd's default
%% certificate when absent.
listen_opt_type(certfile) ->
    econf:pem();
%% The authorities whose certificates the front end may show (tls_verify).
listen_opt_type(cafile) ->
    econf:pem();
%% Require a certificate from the front end, signed by one in `cafile`.
listen_opt_type(tls_verify) ->
    econf:bool().

%% `secret` has no default: a listener without it fails validation.
-spec listen_options() -> [{atom(), term()} | atom()].
listen_options() ->
    [secret | defaults()].

%%%===================================================================
%%% Options: every default in one place
%%%===================================================================

%% Options reach start/3 with their default values removed, so every read
%% goes through options/1 with these.
-spec defaults() -> [{atom(), term()}].
defaults() ->
    [%% Largest frame accepted from the front end, header included; bytes.
     {max_frame_size, ?MEGAPHONE_DEFAULT_MAX_FRAME_BYTES},
     %% Largest content of one session frame; bytes, or infinity.
     {max_stanza_size, 65536},
     %% Access rule checked at resource binding, as on c2s listeners.
     {access, all},
     %% Shaper rule applied to each session's input, as on c2s listeners.
     {shaper, none},
     %% Silence after which a link is dead; ms (configured in seconds).
     {heartbeat_timeout, ?MEGAPHONE_DEFAULT_HEARTBEAT_TIMEOUT_MS},
     %% TLS on the link: off (loopback or a private network), or on with
     %% these; see listen_opt_type/1.
     {tls, false},
     {certfile, undefined},
     {cafile, undefined},
     {tls_verify, false}].

-spec options([{atom(), term()}]) -> options().
options(Opts) ->
    All = [{secret, undefined},
           {send_timeout, ?LISTENER_SEND_TIMEOUT_MS} | defaults()],
    maps:from_list([{Name, proplists:get_value(Name, Opts, Default)}
                    || {Name, Default} <- All]).

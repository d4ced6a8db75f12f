%%%-------------------------------------------------------------------
%%% Control calls for the private ejabberd that scripts/ejabberd.sh runs:
%%% what its commands, the tests and the benchmarks ask of the node, as
%%% functions, rather than Erlang written into shell and TypeScript strings.
%%% The listener never calls this module; an operator's ejabberd does not
%%% need it.
%%%
%%% call/2,3 is the command line's entry (`scripts/ejabberd.sh ctl FUNCTION
%%% ARG...`): each argument arrives as a binary, and the result leaves as
%%% JSON text. Functions that fail raise, with a reason that says why.
%%%-------------------------------------------------------------------
-module(megaphone_ctl).

%% Command line
-export([call/2, call/3]).
%% The node
-export([started/0, stop/0, link_listeners/0]).
%% Accounts
-export([register/3, register_bulk/4, unregister/2, users/1,
         check_password/3, add_roster_item/5]).
%% Sessions
-export([connected/0, sessions/2, user_ip/3, kill_c2s/3, links_used/2,
         session_pids/0, bosh_state/1]).
%% Benchmarks
-export([chat_counts/1]).
%% Hooks chat_counts/1 installs
-export([count_sent/1, count_received/1]).

-include("ejabberd_sm.hrl").

-type json() :: binary() | number() | boolean() | null | atom() |
                [json()] | #{atom() | binary() => json()}.

%% Readable in JSON but not JSON themselves: pids become their text.
-type result() :: json() | pid() | [result()].

%%%===================================================================
%%% Command line
%%%===================================================================

%% Applies the exported function Name (call/2,3 and module_info excepted)
%% to Args and returns its result as JSON.
-spec call(binary(), [binary()]) -> binary().
call(Name, Args) ->
    call(Name, Args, json).

%% `lines`: a list result as one line per element, a binary as its text.
-spec call(binary(), [binary()], json | lines) -> binary().
call(Name, Args, Format) ->
    Result = apply(?MODULE, function(Name, length(Args)), Args),
    format(Format, Result).

%% The atom of an exported function, found without making atoms of input.
-spec function(binary(), arity()) -> atom().
function(Name, Arity) ->
    case [F || {F, A} <- ?MODULE:module_info(exports), A == Arity,
               atom_to_binary(F, utf8) == Name,
               not lists:member(F, [call, module_info])] of
        [F] -> F;
        [] -> erlang:error({no_such_function, ?MODULE, Name, Arity})
    end.

-spec format(json | lines, result()) -> binary().
format(json, Result) ->
    iolist_to_binary(jiffy:encode(to_json(Result)));
format(lines, Results) when is_list(Results) ->
    iolist_to_binary([[line(R), $\n] || R <- Results]).

-spec line(result()) -> binary().
line(Text) when is_binary(Text) ->
    Text;
line(Result) ->
    format(json, Result).

-spec to_json(result()) -> json().
to_json(Pid) when is_pid(Pid) ->
    list_to_binary(pid_to_list(Pid));
to_json(List) when is_list(List) ->
    [to_json(E) || E <- List];
to_json(Map) when is_map(Map) ->
    maps:map(fun(_K, V) -> to_json(V) end, Map);
to_json(Other) ->
    Other.

%%%===================================================================
%%% The node
%%%===================================================================

%% ejabberd has started (scripts/ejabberd.sh start waits for this).
-spec started() -> boolean().
started() ->
    lists:keymember(ejabberd, 1, application:which_applications()).

-spec stop() -> ok.
stop() ->
    init:stop().

%% The ports of the megaphone_listener items of the `listen:` option.
%% Every megaphone_listener configured: its address and port.
-spec link_listeners() -> [#{ip := binary(), port := inet:port_number()}].
link_listeners() ->
    [#{ip => list_to_binary(inet:ntoa(IP)), port => Port}
     || {{Port, IP, _Transport}, megaphone_listener, _Opts}
            <- ejabberd_option:listen()].

%%%===================================================================
%%% Accounts
%%%===================================================================

%% Creates User@Host, or resets the password of an existing account.
-spec register(binary(), binary(), binary()) -> registered | password_reset.
register(User, Host, Password) ->
    case ejabberd_auth:try_register(User, Host, Password) of
        ok ->
            registered;
        {error, exists} ->
            ok = ejabberd_auth:set_password(User, Host, Password),
            password_reset;
        {error, Reason} ->
            erlang:error({register, User, Host, Reason})
    end.

%% Registers Prefix1 .. PrefixCount with one password.
-spec register_bulk(binary(), binary(), non_neg_integer() | binary(),
                    binary()) ->
          #{registered := non_neg_integer(), existed := non_neg_integer()}.
register_bulk(Prefix, Host, Count, Password) ->
    Results = [register(<<Prefix/binary, (integer_to_binary(I))/binary>>,
                        Host, Password)
               || I <- lists:seq(1, integer(Count))],
    #{registered => length([x || registered <- Results]),
      existed => length([x || password_reset <- Results])}.

-spec unregister(binary(), binary()) -> ok.
unregister(User, Host) ->
    ok = ejabberd_auth:remove_user(User, Host).

%% The account names of Host, sorted.
-spec users(binary()) -> [binary()].
users(Host) ->
    lists:sort([User || {User, _} <- ejabberd_auth:get_users(Host)]).

-spec check_password(binary(), binary(), binary()) -> boolean().
check_password(User, Host, Password) ->
    ejabberd_auth:check_password(User, <<>>, Host, Password).

%% Puts the bare JID Contact on User@Host's roster, in no group, with the
%% subscription given (`both`, `to`, `from`, `none`).
-spec add_roster_item(binary(), binary(), binary(), binary(), binary()) -> ok.
add_roster_item(User, Host, Contact, Name, Subscription) ->
    {ContactUser, ContactHost, _} = jid:tolower(jid:decode(Contact)),
    case mod_admin_extra:add_rosteritem(User, Host, ContactUser, ContactHost,
                                        Name, <<>>, Subscription) of
        ok -> ok;
        Error -> erlang:error({add_roster_item, User, Host, Contact, Error})
    end.

%%%===================================================================
%%% Sessions
%%%===================================================================

%% ejabberd_sm:connected_users_number(): every session on the server.
-spec connected() -> non_neg_integer().
connected() ->
    ejabberd_sm:connected_users_number().

%% Sessions on Host whose user name starts with Prefix.
-spec sessions(binary(), binary()) -> non_neg_integer().
sessions(Prefix, Host) ->
    length(sessions_of(Prefix, Host)).

%% The peer address ejabberd has for a session: the browser's, for
%% sessions on a link. null when there is no such session.
-spec user_ip(binary(), binary(), binary()) ->
          #{ip := binary(), port := inet:port_number()} | null.
user_ip(User, Host, Resource) ->
    case ejabberd_sm:get_user_ip(User, Host, Resource) of
        {IP, Port} -> #{ip => list_to_binary(inet:ntoa(IP)), port => Port};
        undefined -> null
    end.

%% Kills a session's ejabberd_c2s, as a crash would end it.
-spec kill_c2s(binary(), binary(), binary()) -> ok.
kill_c2s(User, Host, Resource) ->
    case ejabberd_sm:get_session_pid(User, Host, Resource) of
        Pid when is_pid(Pid) ->
            exit(Pid, kill),
            ok;
        none ->
            erlang:error({no_session, User, Host, Resource})
    end.

%% The sessions of Prefix on Host, and how many distinct links carry them
%% (sessions that are not on a link count for none).
-spec links_used(binary(), binary()) ->
          #{sessions := non_neg_integer(), links := non_neg_integer()}.
links_used(Prefix, Host) ->
    C2S = [Pid || {U, S, R} <- sessions_of(Prefix, Host),
                  Pid <- [ejabberd_sm:get_session_pid(U, S, R)], is_pid(Pid)],
    LinkOf = maps:from_list(
               [{C, Link} || P <- processes_of(megaphone_session),
                             #{c2s := C, link := Link} <- [session_info(P)]]),
    Links = [maps:get(C, LinkOf) || C <- C2S, maps:is_key(C, LinkOf)],
    #{sessions => length(C2S), links => length(lists:usort(Links))}.

%% The c2s process of every session of this node (memory benchmarks).
-spec session_pids() -> [pid()].
session_pids() ->
    [Pid || #session{sid = {_, Pid}} <- ejabberd_sm:dirty_get_my_sessions_list()].

%% ejabberd's own BOSH session Sid (mod_bosh): the last rid it processed and
%% the rids of the requests it keeps waiting for an earlier one.
-spec bosh_state(binary()) ->
          #{prev_rid := non_neg_integer(), receivers := [non_neg_integer()]}.
bosh_state(Sid) ->
    case mod_bosh:find_session(Sid) of
        {ok, Pid} -> bosh_fields(sys:get_state(Pid, 5000));
        error -> erlang:error({no_bosh_session, Sid})
    end.

%% No header exports ejabberd_bosh's #state record: this is the one place
%% that reads it, by position, as ejabberd 23.01 defines it (20 fields;
%% prev_rid the 12th, receivers, a gb_tree by rid, the 17th). Any other
%% shape fails here, saying so, rather than reading the wrong field.
-define(BOSH_STATE_SIZE, 21).
-define(BOSH_PREV_RID, 13).
-define(BOSH_RECEIVERS, 18).
-spec bosh_fields(term()) ->
          #{prev_rid := non_neg_integer(), receivers := [non_neg_integer()]}.
bosh_fields([_Name, _StateName, St | _])
  when is_tuple(St), tuple_size(St) == ?BOSH_STATE_SIZE,
       element(1, St) == state ->
    #{prev_rid => element(?BOSH_PREV_RID, St),
      receivers => gb_trees:keys(element(?BOSH_RECEIVERS, St))};
bosh_fields(_) ->
    erlang:error({unsupported_ejabberd_bosh_state, ejabberd_option:version(),
                  <<"megaphone_ctl:bosh_state/1 reads the #state record of "
                    "ejabberd 23.01's ejabberd_bosh; this ejabberd keeps "
                    "another shape">>}).

%%%-------------------------------------------------------------------
%%% Helpers
%%%-------------------------------------------------------------------

%% {User, Host, Resource} of the sessions on Host whose user starts with
%% Prefix. Stored user names are nodeprep'ed (lowercased): so is Prefix.
-spec sessions_of(binary(), binary()) -> [{binary(), binary(), binary()}].
sessions_of(Prefix, Host) ->
    P = case jid:nodeprep(Prefix) of
            error -> Prefix;
            Prepped -> Prepped
        end,
    [USR || {U, S, _} = USR <- ejabberd_sm:dirty_get_sessions_list(),
            S == Host, binary:longest_common_prefix([U, P]) == byte_size(P)].

-spec processes_of(module()) -> [pid()].
processes_of(Module) ->
    [P || P <- erlang:processes(), {M, _, _} <- [proc_lib:initial_call(P)],
          M == Module].

%% A session that ends meanwhile has nothing to say.
-spec session_info(pid()) -> megaphone_session:info() | none.
session_info(Pid) ->
    try megaphone_session:info(Pid)
    catch exit:_ -> none
    end.

-spec integer(non_neg_integer() | binary()) -> non_neg_integer().
integer(N) when is_integer(N) -> N;
integer(Text) -> binary_to_integer(Text).

%%%===================================================================
%%% Benchmarks
%%%===================================================================

%% Chat messages users of Host have sent, and chat messages their sessions
%% have received for delivery (one each, whatever the transport batches),
%% since the first call: the load benchmark's count of what was delivered.
%% The first call installs the two hooks that count; they stay until the
%% node stops (the private node of scripts/ejabberd.sh only).
-spec chat_counts(binary()) -> #{sent := non_neg_integer(), received := non_neg_integer()}.
chat_counts(Host) ->
    Counters = case persistent_term:get({?MODULE, chat_counts}, undefined) of
                   undefined ->
                       C = counters:new(2, [write_concurrency]),
                       persistent_term:put({?MODULE, chat_counts}, C),
                       ejabberd_hooks:add(user_send_packet, Host, ?MODULE, count_sent, 1),
                       ejabberd_hooks:add(user_receive_packet, Host, ?MODULE, count_received, 1),
                       C;
                   C -> C
               end,
    #{sent => counters:get(Counters, 1), received => counters:get(Counters, 2)}.

-spec count_sent({stanza(), term()}) -> {stanza(), term()}.
count_sent(Acc) -> count(1, Acc).

-spec count_received({stanza(), term()}) -> {stanza(), term()}.
count_received(Acc) -> count(2, Acc).

-type stanza() :: xmpp:stanza() | term().

count(Index, {Packet, _} = Acc) ->
    case element(1, Packet) =:= message andalso xmpp:get_type(Packet) =:= chat of
        true -> counters:add(persistent_term:get({?MODULE, chat_counts}), Index, 1);
        false -> ok
    end,
    Acc;
count(_Index, Acc) ->
    Acc.

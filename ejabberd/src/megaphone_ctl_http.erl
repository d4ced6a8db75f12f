%%%-------------------------------------------------------------------
%%% megaphone_ctl over HTTP, for the private ejabberd that
%%% scripts/ejabberd.sh runs on loopback: `POST /megaphone-ctl/FUNCTION`
%%% with a JSON array of string arguments answers the JSON result of
%%% megaphone_ctl:call/2. The tests make a hundred such calls a run; over
%%% HTTP each costs a request instead of a shell, a script and erl_call.
%%%
%%% The caller proves it may control the node with the node's cookie in
%%% the X-Megaphone-Ctl header, as erl_call proves it with -c. An operator's
%%% ejabberd never configures this handler.
%%%-------------------------------------------------------------------
-module(megaphone_ctl_http).

%% ejabberd_http request handler
-export([process/2]).

-include("ejabberd_http.hrl").

-define(TOKEN_HEADER, <<"x-megaphone-ctl">>).
-define(JSON, [{<<"Content-Type">>, <<"application/json">>}]).
-define(TEXT, [{<<"Content-Type">>, <<"text/plain; charset=utf-8">>}]).

-spec process([binary()], #request{}) -> {pos_integer(), [{binary(), binary()}], binary()}.
process([Function], #request{method = 'POST', data = Data, headers = Headers}) ->
    case authorized(Headers) of
        false ->
            {403, ?TEXT, <<"megaphone_ctl: the node's cookie is required in X-Megaphone-Ctl\n">>};
        true ->
            call(Function, Data)
    end;
process(_Path, #request{method = 'POST'}) ->
    {404, ?TEXT, <<"megaphone_ctl: POST /megaphone-ctl/FUNCTION\n">>};
process(_Path, _Request) ->
    {405, [{<<"Allow">>, <<"POST">>} | ?TEXT], <<"megaphone_ctl: POST only\n">>}.

-spec call(binary(), binary()) -> {pos_integer(), [{binary(), binary()}], binary()}.
call(Function, Data) ->
    case args(Data) of
        {ok, Args} ->
            try {200, ?JSON, megaphone_ctl:call(Function, Args)}
            catch Class:Reason:Stack ->
                    {500, ?TEXT, iolist_to_binary(
                                   io_lib:format("megaphone_ctl:~ts: ~p:~p~n~p~n",
                                                 [Function, Class, Reason, Stack]))}
            end;
        error ->
            {400, ?TEXT, <<"megaphone_ctl: the body must be a JSON array of strings\n">>}
    end.

-spec args(binary()) -> {ok, [binary()]} | error.
args(Data) ->
    try jiffy:decode(Data) of
        Args when is_list(Args) ->
            case lists:all(fun is_binary/1, Args) of
                true -> {ok, Args};
                false -> error
            end;
        _ -> error
    catch _:_ -> error
    end.

-spec authorized([{atom() | binary(), binary()}]) -> boolean().
authorized(Headers) ->
    Cookie = atom_to_binary(erlang:get_cookie(), utf8),
    case [V || {K, V} <- Headers, is_binary(K), string:lowercase(K) == ?TOKEN_HEADER] of
        [Token] when byte_size(Token) == byte_size(Cookie) ->
            crypto:hash_equals(Token, Cookie);
        _ ->
            false
    end.

%%% PropEr properties of RFC 7395 framing of session content
%%% (docs/link-protocol.md, "Session content"): any content gives stream
%%% events or one coded error; what the listener encodes decodes back.
%%% Run by `make proper`.
-module(prop_megaphone_framing).

-include_lib("proper/include/proper.hrl").
-include("fxml.hrl").
-include("megaphone_link.hrl").

-define(MAX, 65536).

%%%-------------------------------------------------------------------
%%% Generators
%%%-------------------------------------------------------------------
name() ->
    ?LET({C, Cs}, {elements("abcdefghijklmnopqrstuvwxyz_"), list(elements("abcdefghijklmnopqrstuvwxyz0123456789-._"))},
         list_to_binary([C | lists:sublist(Cs, 8)])).

%% Characters XML 1.0 allows, the ones XML escapes and non-ASCII among them.
text() ->
    ?LET(Cs, list(frequency([{8, range($\s, $~)}, {2, elements([$\t, $\n, $&, $<, $>, $", $'])},
                            {1, range(16#A0, 16#D7FF)}, {1, range(16#E000, 16#FFFD)}, {1, range(16#10000, 16#10FFFF)}])),
         unicode:characters_to_binary(Cs)).

attrs() ->
    ?LET(As, list({name(), text()}), lists:ukeysort(1, As)).

%% Up to four levels deep, up to three children each.
element() ->
    element(4).

element(Depth) ->
    ?LET({Name, Attrs, Children}, {name(), attrs(), children(Depth - 1)},
         #xmlel{name = Name, attrs = Attrs, children = merge(Children)}).

children(0) ->
    [];
children(Depth) ->
    ?LET(N, range(0, 3), vector(N, frequency([{2, ?LET(T, text(), {xmlcdata, T})}, {1, ?LAZY(element(Depth))}]))).

%% Adjacent text merged, empty text dropped: as a parser gives them back.
merge([{xmlcdata, A}, {xmlcdata, B} | Rest]) -> merge([{xmlcdata, <<A/binary, B/binary>>} | Rest]);
merge([{xmlcdata, <<>>} | Rest]) -> merge(Rest);
merge([C | Rest]) -> [C | merge(Rest)];
merge([]) -> [].

%% Content from the front end: valid elements, framing elements, and both damaged.
content() ->
    frequency([{3, valid_content()},
               {3, ?LET({Bin, Edits}, {valid_content(), non_empty(list({non_neg_integer(), piece()}))}, damage(Bin, Edits))},
               {1, binary()}]).

valid_content() ->
    frequency([{3, ?LET(N, range(0, 3), ?LET(Els, vector(N, element()), iolist_to_binary([fxml:element_to_binary(E) || E <- Els])))},
               {1, elements([<<"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>">>,
                             <<"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>">>,
                             <<"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>">>,
                             <<"<open/>">>, <<" \n ">>, <<>>])}]).

piece() ->
    elements([<<"<">>, <<">">>, <<"&">>, <<"&x;">>, <<"&#0;">>, <<"</a>">>, <<"<a>">>, <<"<!DOCTYPE a [<!ENTITY x 'y'>]>">>,
              <<"<?xml version='1.0'?>">>, <<"<![CDATA[">>, <<"]]>">>, <<"<!--">>, <<"xmlns:p">>, <<"p:a='1'">>,
              <<"</m>">>, <<"<m>">>, <<"\"">>, <<"'">>, <<0>>, <<16#ff>>, <<16#c0, 16#80>>, <<16#ed, 16#a0, 16#80>>]).

damage(Bin, []) ->
    Bin;
damage(Bin, [{N, Piece} | Edits]) ->
    At = N rem (byte_size(Bin) + 1),
    damage(<<(binary:part(Bin, 0, At))/binary, Piece/binary, (binary:part(Bin, At, byte_size(Bin) - At))/binary>>, Edits).

%%%-------------------------------------------------------------------
%%% Properties
%%%-------------------------------------------------------------------

%% Any content, at any size limit: a list of stream events, elements, or
%% exactly one error; never an exception.
prop_any_content() ->
    ?FORALL({Content, Max}, {content(), oneof([?MAX, infinity, range(0, 200)])},
            begin
                Events = megaphone_framing:decode(Content, Max),
                Kinds = [kind(E) || E <- Events],
                Ok = lists:all(fun(K) -> K =/= bad end, Kinds)
                    andalso (not lists:member(error, Kinds) orelse Kinds =:= [error]),
                aggregate(case Kinds of [] -> [none]; _ -> lists:usort(Kinds) end, Ok)
            end).

kind({xmlstreamstart, Name, Attrs}) when is_binary(Name), is_list(Attrs) -> header;
kind({xmlstreamend, Name}) when is_binary(Name) -> trailer;
kind({xmlstreamerror, Text}) when is_binary(Text) -> error;
kind({xmlstreamerror, {Code, Text}}) when is_integer(Code), is_binary(Text) -> error;
kind(#xmlel{}) -> element;
kind(_) -> bad.

%% What the listener encodes for an element decodes back to it, in
%% jabber:client when it had no xmlns.
prop_element_round_trip() ->
    ?FORALL(El, ?SUCHTHAT(E, element(), not lists:member(E#xmlel.name, ?MEGAPHONE_FRAMING_ELEMENTS)),
            begin
                {element, Bin} = megaphone_framing:encode({xmlstreamelement, El}),
                Want = case lists:keymember(<<"xmlns">>, 1, El#xmlel.attrs) of
                           true -> El;
                           false -> El#xmlel{attrs = [{<<"xmlns">>, <<"jabber:client">>} | El#xmlel.attrs]}
                       end,
                aggregate([{children, length(El#xmlel.children)}],
                          [normal(E) || E <- megaphone_framing:decode(Bin, infinity)] =:= [normal(Want)])
            end).

%% The stream header the listener encodes decodes to a header with the same attributes.
prop_header_round_trip() ->
    ?FORALL(Attrs, ?SUCHTHAT(As, attrs(), not lists:keymember(<<"xmlns">>, 1, As)),
            begin
                {header, Bin} = megaphone_framing:encode({xmlstreamstart, <<"stream:stream">>, Attrs}),
                [{xmlstreamstart, <<"stream:stream">>, Got}] = megaphone_framing:decode(Bin, infinity),
                lists:sort([A || {K, _} = A <- Got, K /= <<"xmlns">>, K /= <<"xmlns:stream">>]) =:= lists:sort(Attrs)
            end).

normal(#xmlel{name = N, attrs = A, children = C}) ->
    {N, lists:sort(A), [normal(X) || X <- merge(C)]};
normal({xmlcdata, T}) ->
    T.

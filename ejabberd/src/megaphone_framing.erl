%%%-------------------------------------------------------------------
%%% RFC 7395 framing of session content (docs/link-protocol.md, "Session
%%% content"): frame content <-> the stream events an ejabberd_c2s in
%%% element mode reads and writes. Pure functions over fxml.
%%%-------------------------------------------------------------------
-module(megaphone_framing).

-export([decode/2, encode/1, too_big/0]).

-include("fxml.hrl").
-include("megaphone_link.hrl").

-export_type([input/0, output/0, output_kind/0]).

-define(NS_CLIENT, <<"jabber:client">>).

%% xmpp_stream_in turns exactly this text into policy-violation; any other
%% {_, Text} error into not-well-formed.
-define(TOO_BIG, <<"XML stanza is too big">>).

%% Content is parsed inside this root, so that an element without xmlns is
%% in jabber:client (spec) and a `stream:` prefix is bound.
-define(ROOT_OPEN, <<"<m xmlns='", ?NS_CLIENT/binary, "' xmlns:stream='",
                     ?MEGAPHONE_NS_STREAM/binary, "'>">>).
-define(ROOT_CLOSE, <<"</m>">>).

-type input() :: {xmlstreamstart, binary(), [{binary(), binary()}]} |
                 {xmlstreamend, binary()} |
                 {xmlstreamerror, binary() | {integer(), binary()}} |
                 fxml:xmlel().
-type output() :: {xmlstreamstart, binary(), [{binary(), binary()}]} |
                  {xmlstreamend, binary()} |
                  {xmlstreamelement, fxml:xmlel()} |
                  {xmlstreamraw, iodata()} |
                  {xmlstreamcdata, binary()}.
-type output_kind() :: header | element | stream_error | trailer.
%% What each name of ?MEGAPHONE_FRAMING_ELEMENTS stands for, in its order.
-type event() :: header | trailer | features | stream_error.
-define(EVENTS, [header, trailer, features, stream_error]).

%% The stream events in one frame of content from the front end. Content
%% over MaxStanzaSize bytes or not well-formed becomes one error event, which
%% ends this session only (spec "Session content").
-spec decode(binary(), pos_integer() | infinity) -> [input()].
decode(Content, MaxStanzaSize) when is_integer(MaxStanzaSize),
                                    byte_size(Content) > MaxStanzaSize ->
    [too_big()];
decode(Content, _MaxStanzaSize) ->
    case fxml_stream:parse_element(
           <<?ROOT_OPEN/binary, Content/binary, ?ROOT_CLOSE/binary>>) of
        #xmlel{children = Children} ->
            lists:filtermap(fun input/1, Children);
        {error, {_, _} = Why} ->
            [{xmlstreamerror, Why}];
        {error, Why} ->
            [{xmlstreamerror, {0, iolist_to_binary(io_lib:format("~p", [Why]))}}]
    end.

%% The event that makes the c2s end the stream with policy-violation.
-spec too_big() -> input().
too_big() ->
    {xmlstreamerror, ?TOO_BIG}.

-spec input(fxml:xmlel() | {xmlcdata, binary()}) -> {true, input()} | false.
input(#xmlel{name = Name, attrs = Attrs} = El) ->
    case {event(Name), fxml:get_attr_s(<<"xmlns">>, Attrs)} of
        {header, ?MEGAPHONE_NS_FRAMING} ->
            %% RFC 7395 3.3.2: <open/> stands for the stream header.
            {true, {xmlstreamstart, <<"stream:stream">>,
                    [{<<"xmlns:stream">>, ?MEGAPHONE_NS_STREAM},
                     {<<"xmlns">>, ?NS_CLIENT} | without_ns(Attrs)]}};
        {trailer, ?MEGAPHONE_NS_FRAMING} ->
            %% RFC 7395 3.6: <close/> ends the stream.
            {true, {xmlstreamend, <<"stream:stream">>}};
        _ ->
            {true, El}
    end;
input({xmlcdata, _}) ->
    %% Whitespace between top-level elements.
    false.

%% One complete, namespaced element for the front end to place into a BOSH
%% body without parsing it (spec "Session content", listener -> front end).
-spec encode(output()) -> {output_kind(), binary()} | skip.
encode({xmlstreamstart, _Name, Attrs}) ->
    {header, framing_element(header, without_ns(Attrs))};
encode({xmlstreamend, _Name}) ->
    {trailer, framing_element(trailer, [])};
encode({xmlstreamelement, #xmlel{name = Name, attrs = Attrs} = El}) ->
    case event(Name) of
        stream_error ->
            {stream_error, stream_prefixed(El)};
        features ->
            {element, stream_prefixed(El)};
        _ ->
            case lists:keymember(<<"xmlns">>, 1, Attrs) of
                true -> {element, fxml:element_to_binary(El)};
                false -> {element, fxml:element_to_binary(
                                     El#xmlel{attrs = [{<<"xmlns">>, ?NS_CLIENT}
                                                       | Attrs]})}
            end
    end;
encode({xmlstreamraw, _}) ->
    %% Whitespace keepalives have no place in element framing.
    skip;
encode({xmlstreamcdata, _}) ->
    skip.

%% <open/> or <close/> in the framing namespace (RFC 7395 3.3.2, 3.6).
-spec framing_element(header | trailer, [{binary(), binary()}]) -> binary().
framing_element(Event, Attrs) ->
    fxml:element_to_binary(
      #xmlel{name = name(Event),
             attrs = [{<<"xmlns">>, ?MEGAPHONE_NS_FRAMING} | Attrs]}).

%% <stream:features/> and <stream:error/> bind their own prefix.
-spec stream_prefixed(fxml:xmlel()) -> binary().
stream_prefixed(El) ->
    fxml:element_to_binary(
      fxml:replace_tag_attr(<<"xmlns:stream">>, ?MEGAPHONE_NS_STREAM, El)).

-spec without_ns([{binary(), binary()}]) -> [{binary(), binary()}].
without_ns(Attrs) ->
    [A || {K, _} = A <- Attrs, K /= <<"xmlns">>, K /= <<"xmlns:stream">>].

%%%-------------------------------------------------------------------
%%% Element names: every one from ?MEGAPHONE_FRAMING_ELEMENTS (spec "Words")
%%%-------------------------------------------------------------------
-spec names() -> [{event(), binary()}].
names() ->
    lists:zip(?EVENTS, ?MEGAPHONE_FRAMING_ELEMENTS).

-spec name(event()) -> binary().
name(Event) ->
    {Event, Name} = lists:keyfind(Event, 1, names()),
    Name.

-spec event(binary()) -> event() | none.
event(Name) ->
    case lists:keyfind(Name, 2, names()) of
        {Event, Name} -> Event;
        false -> none
    end.

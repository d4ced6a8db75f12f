%%%-------------------------------------------------------------------
%%% Pure codec of the Megaphone link protocol (docs/link-protocol.md):
%%% frames on the byte stream and control messages on connection ID 0.
%%% No sockets, no processes: the link process feeds it bytes.
%%%-------------------------------------------------------------------
-module(megaphone_codec).

%% Frames
-export([new/1, decode/2, encode/2, format_error/1]).
%% Control messages
-export([parse_control/1, format_control/1, format_control_error/1]).

-include("megaphone_link.hrl").

-export_type([state/0, conn_id/0, frame/0, frame_error/0, control/0,
              control_error/0, close_reason/0, bye_reason/0,
              denied_reason/0]).

-type conn_id() :: 0..?MEGAPHONE_MAX_CONNECTION_ID.
-type frame() :: {conn_id(), binary()}.
%% Words of the protocol are atoms here: the words of megaphone_link.hrl with
%% their hyphens turned into underscores (see "Words" below), e.g. the frame
%% error `bad-length` is bad_length. The header is the one list of them.
-type frame_error() :: atom().      % a word of ?MEGAPHONE_FRAME_ERRORS
-type denied_reason() :: atom().    % a word of ?MEGAPHONE_DENIED_REASONS
-type close_reason() :: atom().     % a word of ?MEGAPHONE_CLOSE_REASONS
%% A word of ?MEGAPHONE_BYE_REASONS; malformed_frame comes with its code.
-type bye_reason() :: {malformed_frame, frame_error()} | atom().
-type control() ::
        {challenge, Vsn :: non_neg_integer(), Nonce :: binary()} |
        {auth, Vsn :: non_neg_integer(), Hmac :: binary(),
         MaxFrameBytes :: pos_integer()} |
        {ready, Vsn :: non_neg_integer(), MaxFrameBytes :: pos_integer(),
         HeartbeatTimeoutMs :: pos_integer()} |
        {denied, denied_reason()} |
        {open, pos_integer(), inet:ip_address(), inet:port_number()} |
        {close, pos_integer(), close_reason() | binary()} |
        {ping, non_neg_integer()} |
        {pong, non_neg_integer()} |
        {bye, bye_reason() | binary()}.
-type control_error() :: unknown_word | {bad_arguments, atom()}.

%% A frame whose header is known but whose body has not all arrived yet:
%% the chunks are kept in a list so that a large body is joined only once.
-record(pending, {length :: pos_integer(),
                  chunks :: [binary()],   % newest first
                  size :: non_neg_integer()}).

-record(decoder, {max_frame_bytes :: pos_integer(),
                  buf = <<>> :: binary(),
                  pending :: #pending{} | undefined,
                  %% Stream offset of the first buffered byte, for errors.
                  offset = 0 :: non_neg_integer()}).

-opaque state() :: #decoder{}.

-define(LEN_END, ?MEGAPHONE_LENGTH_DIGITS).                 % offset 10: '|'
-define(ID_END, (?MEGAPHONE_HEADER_BYTES - 1)).             % offset 31: '|'
-define(MAX_LENGTH, 9999999999).                            % 10 digits
-define(MAX_NUMBER_DIGITS, 20).                             % in control words

%%%===================================================================
%%% Frames
%%%===================================================================

%% A decoder that accepts frames of at most MaxFrameBytes, header included.
-spec new(pos_integer()) -> state().
new(MaxFrameBytes) when is_integer(MaxFrameBytes),
                        MaxFrameBytes >= ?MEGAPHONE_HEADER_BYTES ->
    #decoder{max_frame_bytes = MaxFrameBytes}.

%% Feeds the next bytes of the stream, split anywhere. Returns the frames
%% they complete, in order. A bad header is reported as soon as its
%% offending byte is seen, with that byte's offset in the whole stream.
-spec decode(binary(), state()) ->
          {ok, [frame()], state()} |
          {error, frame_error(), Offset :: non_neg_integer()}.
decode(Bin, #decoder{pending = #pending{length = Len, chunks = Chunks,
                                        size = Size} = P} = St)
  when Size + byte_size(Bin) < Len ->
    {ok, [], St#decoder{pending = P#pending{chunks = [Bin | Chunks],
                                            size = Size + byte_size(Bin)}}};
decode(Bin, #decoder{pending = #pending{chunks = Chunks}} = St) ->
    Buf = iolist_to_binary(lists:reverse([Bin | Chunks])),
    frames(Buf, St#decoder{pending = undefined}, []);
decode(Bin, #decoder{buf = Buf} = St) ->
    frames(<<Buf/binary, Bin/binary>>, St#decoder{buf = <<>>}, []).

-spec frames(binary(), state(), [frame()]) ->
          {ok, [frame()], state()} |
          {error, frame_error(), non_neg_integer()}.
frames(Buf, #decoder{max_frame_bytes = Max, offset = Offset} = St, Acc) ->
    case header(Buf, Max) of
        {ok, Len, Id} when byte_size(Buf) >= Len ->
            ContentSize = Len - ?MEGAPHONE_HEADER_BYTES,
            <<_:?MEGAPHONE_HEADER_BYTES/binary,
              Content:ContentSize/binary, Rest/binary>> = Buf,
            frames(Rest, St#decoder{offset = Offset + Len},
                   [{Id, Content} | Acc]);
        {ok, Len, _Id} ->
            P = #pending{length = Len, chunks = [Buf],
                         size = byte_size(Buf)},
            {ok, lists:reverse(Acc), St#decoder{pending = P}};
        more ->
            {ok, lists:reverse(Acc), St#decoder{buf = Buf}};
        {error, Reason, Pos} ->
            {error, Reason, Offset + Pos}
    end.

%% Checks the header bytes present so far, in stream order (spec "Frames":
%% the list of malformed headers).
-spec header(binary(), pos_integer()) ->
          {ok, pos_integer(), conn_id()} | more |
          {error, frame_error(), non_neg_integer()}.
header(Buf, Max) ->
    header(Buf, 0, 0, 0, Max).

-spec header(binary(), non_neg_integer(), non_neg_integer(),
             non_neg_integer(), pos_integer()) ->
          {ok, pos_integer(), conn_id()} | more |
          {error, frame_error(), non_neg_integer()}.
header(_Buf, ?MEGAPHONE_HEADER_BYTES, Len, Id, _Max) ->
    {ok, Len, Id};
header(Buf, Pos, _Len, _Id, _Max) when Pos >= byte_size(Buf) ->
    more;
header(Buf, Pos, Len, Id, Max) ->
    Byte = binary:at(Buf, Pos),
    if Pos < ?LEN_END ->
            case digit(Byte) of
                error -> {error, bad_length, Pos};
                D -> length_digit(Buf, Pos, Len * 10 + D, Max)
            end;
       Pos == ?LEN_END; Pos == ?ID_END ->
            case Byte of
                ?MEGAPHONE_SEPARATOR -> header(Buf, Pos + 1, Len, Id, Max);
                _ -> {error, bad_separator, Pos}
            end;
       true ->
            case digit(Byte) of
                error -> {error, bad_id, Pos};
                D -> id_digit(Buf, Pos, Len, Id * 10 + D, Max)
            end
    end.

%% The length is judged as soon as its last digit is seen.
-spec length_digit(binary(), non_neg_integer(), non_neg_integer(),
                   pos_integer()) ->
          {ok, pos_integer(), conn_id()} | more |
          {error, frame_error(), non_neg_integer()}.
length_digit(Buf, Pos, Len, Max) when Pos == ?LEN_END - 1 ->
    if Len < ?MEGAPHONE_HEADER_BYTES -> {error, length_too_small, 0};
       Len > Max -> {error, frame_too_large, 0};
       true -> header(Buf, Pos + 1, Len, 0, Max)
    end;
length_digit(Buf, Pos, Len, Max) ->
    header(Buf, Pos + 1, Len, 0, Max).

-spec id_digit(binary(), non_neg_integer(), pos_integer(),
               non_neg_integer(), pos_integer()) ->
          {ok, pos_integer(), conn_id()} | more |
          {error, frame_error(), non_neg_integer()}.
id_digit(_Buf, Pos, _Len, Id, _Max)
  when Pos == ?ID_END - 1, Id > ?MEGAPHONE_MAX_CONNECTION_ID ->
    {error, bad_id, ?LEN_END + 1};
id_digit(Buf, Pos, Len, Id, Max) ->
    header(Buf, Pos + 1, Len, Id, Max).

-spec digit(byte()) -> 0..9 | error.
digit(B) when B >= $0, B =< $9 -> B - $0;
digit(_) -> error.

%% One frame for ConnId. The length counts bytes, header included.
-spec encode(conn_id(), iodata()) -> iodata().
encode(ConnId, Content) when is_integer(ConnId), ConnId >= 0,
                             ConnId =< ?MEGAPHONE_MAX_CONNECTION_ID ->
    Len = iolist_size(Content) + ?MEGAPHONE_HEADER_BYTES,
    Len =< ?MAX_LENGTH orelse erlang:error(badarg),
    [pad(Len, ?MEGAPHONE_LENGTH_DIGITS), ?MEGAPHONE_SEPARATOR,
     pad(ConnId, ?MEGAPHONE_ID_DIGITS), ?MEGAPHONE_SEPARATOR, Content].

-spec pad(non_neg_integer(), pos_integer()) -> binary().
pad(N, Width) ->
    B = integer_to_binary(N),
    <<(binary:copy(<<"0">>, Width - byte_size(B)))/binary, B/binary>>.

%% The error code as written in the spec and in `bye malformed-frame <code>`.
-spec format_error(frame_error()) -> binary().
format_error(Code) ->
    to_word(frame_error, Code).

%%%===================================================================
%%% Control messages (spec "Control channel")
%%%===================================================================

%% One line of ASCII words separated by single spaces.
-spec parse_control(binary()) -> control() | {error, control_error()}.
parse_control(Bin) ->
    [Word | Args] = binary:split(Bin, <<" ">>, [global]),
    case lists:member(Word, words_of(control)) of
        false ->
            {error, unknown_word};
        true ->
            Name = to_atom(Word),
            try control(Name, Args)
            catch throw:bad_arguments -> {error, {bad_arguments, Name}}
            end
    end.

-spec control(atom(), [binary()]) -> control().
control(challenge, [Vsn, Nonce]) ->
    {challenge, number(Vsn), hex(Nonce, 32)};
control(auth, [Vsn, Hmac, Max]) ->
    {auth, number(Vsn), hex(Hmac, 64), pos_number(Max)};
control(ready, [Vsn, Max, Timeout]) ->
    {ready, number(Vsn), pos_number(Max), pos_number(Timeout)};
control(denied, [Reason]) ->
    {denied, from_word(denied, Reason)};
control(open, [Id, IP, Port]) ->
    {open, conn_id(Id), ip(IP), port(Port)};
control(close, [Id, Reason]) ->
    %% Spec "Sessions": a close is a close. A reason word outside the list
    %% ends the session all the same, and comes back as a binary.
    {close, conn_id(Id), from_word_or_token(close, Reason)};
control(ping, [N]) ->
    {ping, number(N)};
control(pong, [N]) ->
    {pong, number(N)};
control(bye, [Reason | More] = Words) ->
    %% The other side is leaving whatever it says; words outside the list
    %% are kept for logs.
    try {bye, bye_reason(from_word(bye, Reason), More)}
    catch throw:bad_arguments -> {bye, tokens(Words)}
    end;
control(_, _) ->
    throw(bad_arguments).

%% Spec "Ending the link": malformed-frame is followed by the frame error.
-spec bye_reason(atom(), [binary()]) -> bye_reason().
bye_reason(malformed_frame, [Code]) ->
    {malformed_frame, from_word(frame_error, Code)};
bye_reason(malformed_frame, _) ->
    throw(bad_arguments);
bye_reason(Reason, []) ->
    Reason;
bye_reason(_, _) ->
    throw(bad_arguments).

-spec format_control(control()) -> binary().
format_control(Control) ->
    words([to_word(control, element(1, Control)) | arguments(Control)]).

-spec arguments(control()) -> [binary()].
arguments({challenge, Vsn, Nonce}) ->
    [integer_to_binary(Vsn), Nonce];
arguments({auth, Vsn, Hmac, Max}) ->
    [integer_to_binary(Vsn), Hmac, integer_to_binary(Max)];
arguments({ready, Vsn, Max, Timeout}) ->
    [integer_to_binary(Vsn), integer_to_binary(Max),
     integer_to_binary(Timeout)];
arguments({denied, Reason}) ->
    [to_word(denied, Reason)];
arguments({open, Id, IP, Port}) ->
    [integer_to_binary(Id), list_to_binary(inet:ntoa(IP)),
     integer_to_binary(Port)];
arguments({close, Id, Reason}) ->
    [integer_to_binary(Id), to_word_or_token(close, Reason)];
arguments({Ping, N}) when Ping == ping; Ping == pong ->
    [integer_to_binary(N)];
arguments({bye, {malformed_frame = Reason, Code}}) ->
    [to_word(bye, Reason), format_error(Code)];
arguments({bye, Reason}) ->
    [to_word_or_token(bye, Reason)].

-spec format_control_error(control_error()) -> binary().
format_control_error(unknown_word) ->
    <<"unknown control word">>;
format_control_error({bad_arguments, Name}) ->
    <<"bad arguments to '", (atom_to_binary(Name, latin1))/binary, "'">>.

%%%-------------------------------------------------------------------
%%% Words: every word comes from megaphone_link.hrl (spec "Words"); an atom
%%% here is its word with underscores for hyphens, derived in to_atom/1 only.
%%%-------------------------------------------------------------------
-type word_set() :: control | denied | close | bye | frame_error.

-spec words_of(word_set()) -> [binary()].
words_of(control) -> ?MEGAPHONE_CONTROL_WORDS;
words_of(denied) -> ?MEGAPHONE_DENIED_REASONS;
words_of(close) -> ?MEGAPHONE_CLOSE_REASONS;
words_of(bye) -> ?MEGAPHONE_BYE_REASONS;
words_of(frame_error) -> ?MEGAPHONE_FRAME_ERRORS.

%% Only ever called on the header's words, never on input: the atom table
%% cannot grow from what the other side sends.
-spec to_atom(binary()) -> atom().
to_atom(Word) ->
    binary_to_atom(binary:replace(Word, <<"-">>, <<"_">>, [global]), latin1).

%% The atom of a word of Set; any other word is a bad argument.
-spec from_word(word_set(), binary()) -> atom().
from_word(Set, Word) ->
    case lists:member(Word, words_of(Set)) of
        true -> to_atom(Word);
        false -> throw(bad_arguments)
    end.

%% The word of an atom of Set. Any other atom is a bug on this side.
-spec to_word(word_set(), atom()) -> binary().
to_word(Set, Atom) ->
    case [Word || Word <- words_of(Set), to_atom(Word) == Atom] of
        [Word] -> Word;
        [] -> erlang:error({not_a_word, Set, Atom})
    end.

%% Spec "Sessions": a newer peer may know more words; keep them as tokens.
-spec from_word_or_token(word_set(), binary()) -> atom() | binary().
from_word_or_token(Set, Word) ->
    try from_word(Set, Word)
    catch throw:bad_arguments -> token(Word)
    end.

-spec to_word_or_token(word_set(), atom() | binary()) -> binary().
to_word_or_token(_Set, Token) when is_binary(Token) ->
    Token;
to_word_or_token(Set, Atom) ->
    to_word(Set, Atom).

-spec words([binary()]) -> binary().
words(Words) ->
    iolist_to_binary(lists:join(<<" ">>, Words)).

-spec tokens([binary()]) -> binary().
tokens(Words) ->
    words([token(W) || W <- Words]).

%% A lowercase word: letters, digits, hyphens.
-spec token(binary()) -> binary().
token(Word) when byte_size(Word) > 0, byte_size(Word) =< 64 ->
    case lists:all(fun(B) -> (B >= $a andalso B =< $z) orelse
                                 (B >= $0 andalso B =< $9) orelse B == $-
                   end, binary_to_list(Word)) of
        true -> Word;
        false -> throw(bad_arguments)
    end;
token(_) ->
    throw(bad_arguments).

-spec number(binary()) -> non_neg_integer().
number(Word) when byte_size(Word) > 0, byte_size(Word) =< ?MAX_NUMBER_DIGITS ->
    case lists:all(fun(B) -> digit(B) /= error end, binary_to_list(Word)) of
        true -> binary_to_integer(Word);
        false -> throw(bad_arguments)
    end;
number(_) ->
    throw(bad_arguments).

-spec pos_number(binary()) -> pos_integer().
pos_number(Word) ->
    case number(Word) of
        0 -> throw(bad_arguments);
        N -> N
    end.

%% Connection IDs in `open`/`close` start at 1 (spec "Sessions").
-spec conn_id(binary()) -> pos_integer().
conn_id(Word) ->
    case pos_number(Word) of
        N when N =< ?MEGAPHONE_MAX_CONNECTION_ID -> N;
        _ -> throw(bad_arguments)
    end.

-spec port(binary()) -> inet:port_number().
port(Word) ->
    case number(Word) of
        N when N =< 65535 -> N;
        _ -> throw(bad_arguments)
    end.

-spec ip(binary()) -> inet:ip_address().
ip(Word) ->
    case inet:parse_strict_address(binary_to_list(Word)) of
        {ok, IP} -> IP;
        {error, _} -> throw(bad_arguments)
    end.

%% Lowercase hex of an exact length (spec "Handshake").
-spec hex(binary(), pos_integer()) -> binary().
hex(Word, Len) when byte_size(Word) == Len ->
    case lists:all(fun(B) -> (B >= $0 andalso B =< $9) orelse
                                 (B >= $a andalso B =< $f)
                   end, binary_to_list(Word)) of
        true -> Word;
        false -> throw(bad_arguments)
    end;
hex(_, _) ->
    throw(bad_arguments).

%%% PropEr properties of the pure link codec (docs/link-protocol.md,
%%% "Frames" and "Control channel"): encode/decode round trips, any split of
%%% the stream, any bytes, any control line. Run by `make proper`.
-module(prop_megaphone_codec).

-include_lib("proper/include/proper.hrl").
-include("megaphone_link.hrl").

-define(MAX, ?MEGAPHONE_DEFAULT_MAX_FRAME_BYTES).

%%%-------------------------------------------------------------------
%%% Generators
%%%-------------------------------------------------------------------
conn_id() ->
    frequency([{4, range(0, 1000000)},
               {1, elements([0, 1, ?MEGAPHONE_MAX_CONNECTION_ID, 4294967296])},
               {1, range(0, ?MEGAPHONE_MAX_CONNECTION_ID)}]).

frames() ->
    list({conn_id(), binary()}).

%% Cut points into a stream, taken modulo its length; or one chunk size.
cuts() ->
    oneof([list(non_neg_integer()), {every, range(1, 40)}]).

split(Bin, {every, N}) ->
    split(Bin, [I * N || I <- lists:seq(1, byte_size(Bin) div N)]);
split(Bin, Points0) ->
    Points = lists:usort([P rem (byte_size(Bin) + 1) || P <- Points0]),
    {Chunks, Last} = lists:foldl(
                       fun(P, {Acc, From}) ->
                               {[binary:part(Bin, From, P - From) | Acc], P}
                       end, {[], 0}, Points),
    lists:reverse([binary:part(Bin, Last, byte_size(Bin) - Last) | Chunks]).

%% A valid stream damaged: bytes replaced, inserted or deleted, anywhere or
%% in a header; or plain random bytes.
stream() ->
    frequency([{1, binary()},
               {4, ?LET({Fs, Edits}, {non_empty(frames()), non_empty(list(edit()))},
                        damage(iolist_to_binary([megaphone_codec:encode(I, C) || {I, C} <- Fs]),
                               header_starts(Fs), Edits))}]).

edit() ->
    {frequency([{1, replace}, {1, insert}, {1, delete}, {3, header_byte}, {2, length_digits}]),
     non_neg_integer(),
     oneof([byte(), elements([$0, $9, $|, $-, $\s])]),
     oneof([vector(10, range($0, $9)), elements(["0000000031", "0000000032", "9999999999"])])}.

header_starts(Fs) ->
    {Starts, _} = lists:mapfoldl(fun({_, C}, At) -> {At, At + ?MEGAPHONE_HEADER_BYTES + byte_size(C)} end, 0, Fs),
    Starts.

damage(Bin, _Starts, []) ->
    Bin;
damage(Bin, Starts, [{Kind, N, Byte, Digits} | Edits]) ->
    At = N rem (byte_size(Bin) + 1),
    Header = lists:nth(N rem length(Starts) + 1, Starts),
    Damaged = case Kind of
                  replace -> put(Bin, At, <<Byte>>, 1);
                  insert -> put(Bin, At, <<Byte>>, 0);
                  delete -> put(Bin, At, <<>>, 1);
                  header_byte -> put(Bin, Header + N rem ?MEGAPHONE_HEADER_BYTES, <<Byte>>, 1);
                  length_digits -> put(Bin, Header, list_to_binary(Digits), ?MEGAPHONE_LENGTH_DIGITS)
              end,
    damage(Damaged, Starts, Edits).

put(Bin, At0, New, Drop0) ->
    At = min(At0, byte_size(Bin)),
    Drop = min(Drop0, byte_size(Bin) - At),
    <<(binary:part(Bin, 0, At))/binary, New/binary,
      (binary:part(Bin, At + Drop, byte_size(Bin) - At - Drop))/binary>>.

%%%-------------------------------------------------------------------
%%% Decoding helpers
%%%-------------------------------------------------------------------

%% Feeds the chunks; the frames, then ok or the first error. Checks after
%% each chunk that the decoder keeps less than one frame's bytes.
feed(Chunks, Max) ->
    feed(Chunks, megaphone_codec:new(Max), Max, []).

feed([], _St, _Max, Acc) ->
    {Acc, ok};
feed([Chunk | Chunks], St, Max, Acc) ->
    case megaphone_codec:decode(Chunk, St) of
        {ok, Frames, St1} ->
            buffered(St1) =< Max orelse error({buffered, buffered(St1), Max}),
            feed(Chunks, St1, Max, Acc ++ Frames);
        {error, Code, Offset} ->
            {Acc, {error, Code, Offset}}
    end.

%% The bytes a decoder keeps (its record, read here only: decoder{max,
%% buf, pending, offset}; pending{length, chunks, size}).
buffered(St) ->
    Pending = case element(4, St) of
                  undefined -> 0;
                  P -> element(4, P)
              end,
    byte_size(element(3, St)) + Pending.

is_prefix(A, B) ->
    lists:prefix(A, B).

%%%-------------------------------------------------------------------
%%% Properties
%%%-------------------------------------------------------------------

%% Encode then decode gives the same frames, whatever the split.
prop_round_trip() ->
    ?FORALL({Fs, Cuts}, {frames(), cuts()},
            begin
                Stream = iolist_to_binary([megaphone_codec:encode(I, C) || {I, C} <- Fs]),
                Chunks = split(Stream, Cuts),
                aggregate([{frames, bucket(length(Fs))}, {chunks, bucket(length(Chunks))}],
                          feed(Chunks, ?MAX) =:= {Fs, ok})
            end).

%% Any bytes, split anywhere: the same error (code and offset) as when fed
%% byte by byte, and a prefix of its frames; never an exception.
prop_any_bytes() ->
    ?FORALL({Stream, Cuts, Max}, {stream(), cuts(), oneof([?MAX, range(?MEGAPHONE_HEADER_BYTES, 400)])},
            begin
                {Frames, Result} = feed(split(Stream, Cuts), Max),
                {AllFrames, ByteResult} = feed([<<B>> || <<B>> <= Stream], Max),
                Outcome = case Result of
                              ok -> ok;
                              {error, Code, _} -> Code
                          end,
                Coded = case Result of
                            ok -> true;
                            {error, C, Offset} ->
                                lists:member(megaphone_codec:format_error(C), ?MEGAPHONE_FRAME_ERRORS)
                                    andalso Offset =< byte_size(Stream)
                        end,
                aggregate([Outcome],
                          Coded andalso Result =:= ByteResult andalso is_prefix(Frames, AllFrames)
                          andalso (Result =/= ok orelse Frames =:= AllFrames))
            end).

%% parse_control(format_control(C)) is C.
prop_control_round_trip() ->
    ?FORALL(C, control(),
            aggregate([element(1, C)], megaphone_codec:parse_control(megaphone_codec:format_control(C)) =:= C)).

%% Any line: a control message or a coded error, never an exception; a
%% parsed message formats back to a line that parses the same.
prop_control_any_line() ->
    ?FORALL(Line, control_line(),
            case megaphone_codec:parse_control(Line) of
                {error, unknown_word} ->
                    aggregate([unknown_word], true);
                {error, {bad_arguments, Word}} ->
                    aggregate([{bad_arguments, Word}], lists:member(atom_to_binary(Word, latin1), words()));
                C ->
                    aggregate([{parsed, element(1, C)}],
                              megaphone_codec:parse_control(megaphone_codec:format_control(C)) =:= C)
            end).

words() ->
    [binary:replace(W, <<"-">>, <<"_">>, [global]) || W <- ?MEGAPHONE_CONTROL_WORDS].

%%%-------------------------------------------------------------------
%%% Control generators
%%%-------------------------------------------------------------------
word_atom(Words) ->
    ?LET(W, elements(Words), binary_to_atom(binary:replace(W, <<"-">>, <<"_">>, [global]), latin1)).

hex(N) ->
    ?LET(Ds, vector(N, elements("0123456789abcdef")), list_to_binary(Ds)).

token() ->
    ?LET(Cs, non_empty(list(elements("abcdefghijklmnopqrstuvwxyz0123456789-"))),
         list_to_binary(lists:sublist(Cs, 64))).

decimal() -> oneof([range(0, 1000), range(0, 99999999999999999999)]).
pos_decimal() -> oneof([range(1, 1000), range(1, 99999999999999999999)]).

ip() ->
    oneof([{byte(), byte(), byte(), byte()},
           {range(0, 65535), range(0, 65535), range(0, 65535), range(0, 65535),
            range(0, 65535), range(0, 65535), range(0, 65535), range(0, 65535)}]).

control() ->
    oneof([{challenge, decimal(), hex(32)},
           {auth, decimal(), hex(64), pos_decimal()},
           {ready, decimal(), pos_decimal(), pos_decimal()},
           {denied, word_atom(?MEGAPHONE_DENIED_REASONS)},
           {open, range(1, ?MEGAPHONE_MAX_CONNECTION_ID), ip(), range(0, 65535)},
           {close, range(1, ?MEGAPHONE_MAX_CONNECTION_ID), oneof([word_atom(?MEGAPHONE_CLOSE_REASONS), ?SUCHTHAT(T, token(), not lists:member(T, ?MEGAPHONE_CLOSE_REASONS))])},
           {ping, decimal()},
           {pong, decimal()},
           {bye, oneof([?SUCHTHAT(R, word_atom(?MEGAPHONE_BYE_REASONS), R =/= malformed_frame),
                        {malformed_frame, word_atom(?MEGAPHONE_FRAME_ERRORS)},
                        ?LET(Ts, non_empty(list(token())),
                             ?SUCHTHAT(B, iolist_to_binary(lists:join(<<" ">>, Ts)),
                                       not lists:member(hd(binary:split(B, <<" ">>)), ?MEGAPHONE_BYE_REASONS)))])}]).

control_line() ->
    oneof([?LET({W, Args}, {elements(?MEGAPHONE_CONTROL_WORDS ++ [<<"hello">>, <<>>]), list(argument())},
                iolist_to_binary(lists:join(<<" ">>, [W | Args]))),
           binary()]).

argument() ->
    oneof([token(), hex(32), hex(64), ?LET(N, decimal(), integer_to_binary(N)),
           elements([<<>>, <<"0">>, <<"65536">>, <<"9007199254740992">>, <<"::1">>, <<"127.0.0.1">>,
                     <<"1.2.3">>, <<"malformed-frame">>, <<"bad-id">>, <<"UPPER">>]),
           binary()]).

%% 0, 1, then powers of two: distributions stay short.
bucket(N) when N < 2 -> N;
bucket(N) -> 1 bsl floor(math:log2(N)).

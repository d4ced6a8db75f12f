%%% EUnit tests of the pure link codec (docs/link-protocol.md, "Frames" and
%%% "Control channel").
-module(megaphone_codec_tests).

-include_lib("eunit/include/eunit.hrl").
-include("megaphone_link.hrl").

-define(MAX, ?MEGAPHONE_DEFAULT_MAX_FRAME_BYTES).

%%%-------------------------------------------------------------------
%%% Helpers
%%%-------------------------------------------------------------------
frame(Id, Content) ->
    iolist_to_binary(megaphone_codec:encode(Id, Content)).

%% Feeds the chunks in order; returns all frames or the first error.
feed(Chunks) ->
    feed(Chunks, megaphone_codec:new(?MAX)).

feed(Chunks, St0) ->
    lists:foldl(fun(_, {error, _, _} = E) -> E;
                   (Chunk, {ok, Acc, St}) ->
                        case megaphone_codec:decode(Chunk, St) of
                            {ok, Frames, St1} -> {ok, Acc ++ Frames, St1};
                            Err -> Err
                        end
                end, {ok, [], St0}, Chunks).

frames_of(Chunks) ->
    {ok, Frames, _} = feed(Chunks),
    Frames.

error_of(Chunks) ->
    {error, Reason, Offset} = feed(Chunks),
    {Reason, Offset}.

bytes(Bin) -> [<<B>> || <<B>> <= Bin].

sample_frames() ->
    [{7, <<"<a/>hi">>}, {0, <<"ping 1">>}, {1, <<>>},
     {?MEGAPHONE_MAX_CONNECTION_ID, <<"<message><body>h\303\251</body></message>">>},
     {42, binary:copy(<<"x">>, 100)}].

sample_stream() ->
    iolist_to_binary([frame(Id, C) || {Id, C} <- sample_frames()]).

%%%-------------------------------------------------------------------
%%% Frames: encoding
%%%-------------------------------------------------------------------
header_constants_add_up_test() ->
    ?assertEqual(?MEGAPHONE_HEADER_BYTES,
                 ?MEGAPHONE_LENGTH_DIGITS + 1 + ?MEGAPHONE_ID_DIGITS + 1).

encode_matches_the_spec_example_test() ->
    ?assertEqual(<<"0000000038|00000000000000000007|<a/>hi">>,
                 frame(7, <<"<a/>hi">>)).

encode_counts_utf8_bytes_not_characters_test() ->
    %% "é" is two bytes: 32 + 2.
    ?assertEqual(<<"0000000034|00000000000000000003|\303\251">>,
                 frame(3, <<"\303\251">>)).

encode_accepts_iodata_test() ->
    ?assertEqual(frame(5, <<"abc">>), frame(5, [<<"a">>, [$b], <<"c">>])).

encode_of_empty_content_is_a_bare_header_test() ->
    ?assertEqual(<<"0000000032|00000000000000000009|">>, frame(9, <<>>)).

encode_rejects_ids_out_of_range_test() ->
    ?assertError(function_clause,
                 megaphone_codec:encode(?MEGAPHONE_MAX_CONNECTION_ID + 1, <<>>)),
    ?assertError(function_clause, megaphone_codec:encode(-1, <<>>)).

%%%-------------------------------------------------------------------
%%% Frames: streaming decoder
%%%-------------------------------------------------------------------
decode_of_whole_stream_in_one_chunk_yields_every_frame_test() ->
    ?assertEqual(sample_frames(), frames_of([sample_stream()])).

decode_one_byte_at_a_time_yields_every_frame_test() ->
    ?assertEqual(sample_frames(), frames_of(bytes(sample_stream()))).

decode_split_at_every_offset_yields_every_frame_test() ->
    Stream = sample_stream(),
    lists:foreach(
      fun(At) ->
              <<A:At/binary, B/binary>> = Stream,
              ?assertEqual({At, sample_frames()}, {At, frames_of([A, B])})
      end, lists:seq(0, byte_size(Stream))).

decode_split_at_every_pair_of_offsets_yields_every_frame_test() ->
    Stream = sample_stream(),
    Size = byte_size(Stream),
    lists:foreach(
      fun({I, J}) ->
              <<A:I/binary, B:(J - I)/binary, C/binary>> = Stream,
              ?assertEqual({I, J, sample_frames()},
                           {I, J, frames_of([A, B, C])})
      end, [{I, J} || I <- lists:seq(0, Size, 3), J <- lists:seq(I, Size, 5)]).

decode_random_chunkings_yield_every_frame_test() ->
    rand:seed(exsss, {1, 2, 3}),
    Stream = sample_stream(),
    lists:foreach(
      fun(_) ->
              Chunks = random_chunks(Stream),
              ?assertEqual({Chunks, sample_frames()},
                           {Chunks, frames_of(Chunks)})
      end, lists:seq(1, 200)).

random_chunks(<<>>) -> [];
random_chunks(Bin) ->
    N = min(byte_size(Bin), rand:uniform(40) - 1),
    <<Chunk:N/binary, Rest/binary>> = Bin,
    [Chunk | random_chunks(Rest)].

decode_large_body_in_many_chunks_test() ->
    Content = binary:copy(<<"0123456789">>, 50000),
    Stream = <<(frame(11, Content))/binary, (frame(12, <<"tail">>))/binary>>,
    Chunks = [binary:part(Stream, Off, min(1000, byte_size(Stream) - Off))
              || Off <- lists:seq(0, byte_size(Stream) - 1, 1000)],
    ?assertEqual([{11, Content}, {12, <<"tail">>}], frames_of(Chunks)).

decode_partial_frame_yields_nothing_yet_test() ->
    <<Part:40/binary, _/binary>> = frame(1, binary:copy(<<"y">>, 50)),
    ?assertEqual([], frames_of([Part])).

decode_accepts_frame_of_exactly_the_maximum_test() ->
    Frame = frame(1, binary:copy(<<"z">>, 100 - 32)),
    {ok, [{1, _}], _} = megaphone_codec:decode(Frame,
                                                megaphone_codec:new(100)).

decode_keeps_multibyte_utf8_intact_across_splits_test() ->
    Content = <<"<body>\303\251\342\202\254\360\237\230\200</body>">>,
    ?assertEqual([{2, Content}], frames_of(bytes(frame(2, Content)))).

%%%-------------------------------------------------------------------
%%% Frames: malformed headers (spec "Frames")
%%%-------------------------------------------------------------------
non_digit_in_length_is_bad_length_test() ->
    ?assertEqual({bad_length, 3},
                 error_of([<<"000x000038|00000000000000000007|<a/>hi">>])).

bad_length_is_reported_before_the_rest_of_the_header_arrives_test() ->
    ?assertEqual({bad_length, 0}, error_of([<<"G">>])),
    ?assertEqual({bad_length, 2}, error_of([<<"00">>, <<" ">>])).

non_digit_in_id_is_bad_id_test() ->
    ?assertEqual({bad_id, 15},
                 error_of([<<"0000000038|0000-000000000000007|<a/>hi">>])),
    ?assertEqual({bad_id, 11}, error_of(bytes(<<"0000000038|a">>))).

wrong_first_separator_is_bad_separator_test() ->
    ?assertEqual({bad_separator, 10},
                 error_of([<<"0000000038:00000000000000000007|<a/>hi">>])),
    ?assertEqual({bad_separator, 10}, error_of([<<"0000000038 ">>])).

wrong_second_separator_is_bad_separator_test() ->
    ?assertEqual({bad_separator, 31},
                 error_of([<<"0000000038|00000000000000000007:<a/>hi">>])).

length_under_32_is_length_too_small_test() ->
    ?assertEqual({length_too_small, 0},
                 error_of([<<"0000000031|00000000000000000007|">>])),
    %% Known as soon as the ten length digits are in.
    ?assertEqual({length_too_small, 0}, error_of(bytes(<<"0000000000">>))).

length_over_the_maximum_is_frame_too_large_test() ->
    St = megaphone_codec:new(100),
    ?assertEqual({error, frame_too_large, 0},
                 megaphone_codec:decode(<<"0000000101">>, St)),
    ?assertEqual({error, frame_too_large, 0},
                 megaphone_codec:decode(<<"9999999999|">>, St)).

id_over_max_connection_id_is_bad_id_test() ->
    TooBig = integer_to_binary(?MEGAPHONE_MAX_CONNECTION_ID + 1),
    Id = <<(binary:copy(<<"0">>, 20 - byte_size(TooBig)))/binary,
           TooBig/binary>>,
    ?assertEqual({bad_id, 11}, error_of([<<"0000000032|", Id/binary>>])),
    ?assertEqual({bad_id, 11},
                 error_of([<<"0000000032|99999999999999999999|">>])).

error_offset_counts_bytes_of_earlier_frames_test() ->
    Good = frame(7, <<"<a/>hi">>),
    ?assertEqual({bad_separator, 38 + 31},
                 error_of(bytes(<<Good/binary,
                                  "0000000032|00000000000000000001#">>))).

error_in_second_chunk_after_a_complete_frame_test() ->
    St0 = megaphone_codec:new(?MAX),
    {ok, [{7, <<"<a/>hi">>}], St1} =
        megaphone_codec:decode(frame(7, <<"<a/>hi">>), St0),
    ?assertEqual({error, bad_length, 38 + 1},
                 megaphone_codec:decode(<<"0-">>, St1)).

format_error_gives_the_spec_codes_test() ->
    %% Every atom the decoder returns, in the header's order.
    ?assertEqual(?MEGAPHONE_FRAME_ERRORS,
                 [megaphone_codec:format_error(E)
                  || E <- [bad_length, bad_id, bad_separator,
                           length_too_small, frame_too_large]]).

format_error_of_an_atom_outside_the_list_is_a_bug_test() ->
    ?assertError({not_a_word, frame_error, bad_thing},
                 megaphone_codec:format_error(bad_thing)).

%%%-------------------------------------------------------------------
%%% Control messages (spec "Control channel")
%%%-------------------------------------------------------------------
control_samples() ->
    [{<<"challenge 1 0123456789abcdef0123456789abcdef">>,
      {challenge, 1, <<"0123456789abcdef0123456789abcdef">>}},
     {<<"auth 1 ", (binary:copy(<<"a1">>, 32))/binary, " 1048576">>,
      {auth, 1, binary:copy(<<"a1">>, 32), 1048576}},
     {<<"ready 1 1048576 15000">>, {ready, 1, 1048576, 15000}},
     {<<"denied bad-secret">>, {denied, bad_secret}},
     {<<"denied bad-version">>, {denied, bad_version}},
     {<<"denied malformed-auth">>, {denied, malformed_auth}},
     {<<"open 1 203.0.113.9 54321">>, {open, 1, {203, 0, 113, 9}, 54321}},
     {<<"open 9007199254740991 2001:db8::1 443">>,
      {open, ?MEGAPHONE_MAX_CONNECTION_ID, {16#2001, 16#db8, 0, 0, 0, 0, 0, 1},
       443}},
     {<<"close 5 normal">>, {close, 5, normal}},
     {<<"close 5 stream-error">>, {close, 5, stream_error}},
     {<<"close 5 unknown-id">>, {close, 5, unknown_id}},
     {<<"close 5 open-failed">>, {close, 5, open_failed}},
     {<<"close 5 frame-too-large">>, {close, 5, frame_too_large}},
     {<<"close 5 shutdown">>, {close, 5, shutdown}},
     {<<"close 5 timeout">>, {close, 5, timeout}},
     {<<"close 5 error">>, {close, 5, error}},
     {<<"ping 0">>, {ping, 0}},
     {<<"pong 12345">>, {pong, 12345}},
     {<<"bye malformed-frame bad-length">>, {bye, {malformed_frame, bad_length}}},
     {<<"bye malformed-frame frame-too-large">>,
      {bye, {malformed_frame, frame_too_large}}},
     {<<"bye handshake-required">>, {bye, handshake_required}},
     {<<"bye handshake-timeout">>, {bye, handshake_timeout}},
     {<<"bye heartbeat-timeout">>, {bye, heartbeat_timeout}},
     {<<"bye duplicate-id">>, {bye, duplicate_id}},
     {<<"bye unknown-control">>, {bye, unknown_control}},
     {<<"bye shutdown">>, {bye, shutdown}}].

control_messages_parse_to_terms_test() ->
    [?assertEqual({Text, Term}, {Text, megaphone_codec:parse_control(Text)})
     || {Text, Term} <- control_samples()].

control_messages_format_back_to_the_same_text_test() ->
    [?assertEqual(Text, megaphone_codec:format_control(Term))
     || {Text, Term} <- control_samples()].

every_control_word_is_covered_by_the_samples_test() ->
    Words = lists:usort([hd(binary:split(T, <<" ">>)) || {T, _} <- control_samples()]),
    ?assertEqual(lists:sort(?MEGAPHONE_CONTROL_WORDS), Words).

unknown_control_word_is_rejected_test() ->
    ?assertEqual({error, unknown_word}, megaphone_codec:parse_control(<<"hello 1">>)),
    ?assertEqual({error, unknown_word}, megaphone_codec:parse_control(<<"PING 1">>)),
    ?assertEqual({error, unknown_word}, megaphone_codec:parse_control(<<>>)).

control_messages_with_bad_arguments_are_rejected_test() ->
    Bad = [{ping, <<"ping">>},
           {ping, <<"ping 1 2">>},
           {ping, <<"ping  1">>},            % two spaces
           {ping, <<"ping 1 ">>},            % trailing space
           {ping, <<"ping -1">>},
           {ping, <<"ping 1\n">>},           % no trailing newline
           {ping, <<"ping 123456789012345678901">>},
           {open, <<"open 0 127.0.0.1 1">>},  % IDs start at 1
           {open, <<"open 9007199254740992 127.0.0.1 1">>},
           {open, <<"open 1 300.0.0.1 1">>},
           {open, <<"open 1 localhost 1">>},
           {open, <<"open 1 127.0.0.1 65536">>},
           {open, <<"open 1 127.0.0.1">>},
           {close, <<"close 1 Whatever">>},
           {close, <<"close 1 a_b">>},
           {bye, <<"bye Bad">>},
           {close, <<"close x normal">>},
           {auth, <<"auth 1 ABCDEF 100">>},
           {auth, <<"auth 1 ", (binary:copy(<<"A1">>, 32))/binary, " 100">>},
           {auth, <<"auth 1 ", (binary:copy(<<"a1">>, 31))/binary, " 100">>},
           {auth, <<"auth 1 ", (binary:copy(<<"a1">>, 32))/binary, " 0">>},
           {auth, <<"auth x ", (binary:copy(<<"a1">>, 32))/binary, " 100">>},
           {challenge, <<"challenge 1 xyz">>},
           {denied, <<"denied nope">>},
           {bye, <<"bye">>},
           {bye, <<"bye handshake_required">>}],
    [?assertEqual({Text, {error, {bad_arguments, Word}}},
                  {Text, megaphone_codec:parse_control(Text)})
     || {Word, Text} <- Bad].

close_with_a_reason_outside_the_spec_still_parses_test() ->
    ?assertEqual({close, 4, <<"going-away">>},
                 megaphone_codec:parse_control(<<"close 4 going-away">>)),
    ?assertEqual(<<"close 4 going-away">>,
                 megaphone_codec:format_control({close, 4, <<"going-away">>})).

bye_with_unknown_words_still_parses_test() ->
    ?assertEqual({bye, <<"going-away">>},
                 megaphone_codec:parse_control(<<"bye going-away">>)),
    ?assertEqual({bye, <<"malformed-frame bad-thing">>},
                 megaphone_codec:parse_control(<<"bye malformed-frame bad-thing">>)),
    ?assertEqual({bye, <<"shutdown soon">>},
                 megaphone_codec:parse_control(<<"bye shutdown soon">>)).

%%%-------------------------------------------------------------------
%%% Every word of the header's lists (spec "Words") round-trips: it parses
%%% to an atom (not a kept token) and formats back to the same text.
%%%-------------------------------------------------------------------
round_trip(Text) ->
    Term = megaphone_codec:parse_control(Text),
    {Text, Term, megaphone_codec:format_control(Term)}.

every_denied_reason_round_trips_test() ->
    [begin
         Text = <<"denied ", W/binary>>,
         ?assertMatch({Text, {denied, R}, Text} when is_atom(R),
                      round_trip(Text))
     end || W <- ?MEGAPHONE_DENIED_REASONS].

every_close_reason_round_trips_test() ->
    [begin
         Text = <<"close 12 ", W/binary>>,
         ?assertMatch({Text, {close, 12, R}, Text} when is_atom(R),
                      round_trip(Text))
     end || W <- ?MEGAPHONE_CLOSE_REASONS].

every_bye_reason_round_trips_test() ->
    [begin
         Text = <<"bye ", W/binary>>,
         ?assertMatch({Text, {bye, R}, Text} when is_atom(R),
                      round_trip(Text))
     end || W <- ?MEGAPHONE_BYE_REASONS, W /= <<"malformed-frame">>].

every_frame_error_round_trips_after_malformed_frame_test() ->
    [begin
         Text = <<"bye malformed-frame ", W/binary>>,
         ?assertMatch({Text, {bye, {malformed_frame, E}}, Text} when is_atom(E),
                      round_trip(Text)),
         {bye, {malformed_frame, E}} = megaphone_codec:parse_control(Text),
         ?assertEqual(W, megaphone_codec:format_error(E))
     end || W <- ?MEGAPHONE_FRAME_ERRORS].

malformed_frame_is_in_the_bye_list_and_needs_its_code_test() ->
    ?assert(lists:member(<<"malformed-frame">>, ?MEGAPHONE_BYE_REASONS)),
    %% Without a code it is kept as the other side's words.
    ?assertEqual({bye, <<"malformed-frame">>},
                 megaphone_codec:parse_control(<<"bye malformed-frame">>)).

every_control_word_formats_from_its_atom_test() ->
    [begin
         Word = atom_to_binary(element(1, Term), latin1),
         ?assert(lists:member(Word, ?MEGAPHONE_CONTROL_WORDS)),
         [First | _] = binary:split(megaphone_codec:format_control(Term), <<" ">>),
         ?assertEqual(Word, First)
     end || {_Text, Term} <- control_samples()].

formatting_an_atom_outside_its_list_is_a_bug_test() ->
    ?assertError({not_a_word, close, bogus},
                 megaphone_codec:format_control({close, 1, bogus})),
    ?assertError({not_a_word, denied, bad_secret_},
                 megaphone_codec:format_control({denied, bad_secret_})).

control_frame_round_trip_through_the_decoder_test() ->
    Text = megaphone_codec:format_control({pong, 7}),
    [{0, Content}] = frames_of(bytes(frame(?MEGAPHONE_CONTROL_ID, Text))),
    ?assertEqual({pong, 7}, megaphone_codec:parse_control(Content)).

%%% Constants of the Megaphone link protocol, version 1
%%% (docs/link-protocol.md, "Frames" and "Control channel").
%%%
%%% test/link/contract.test.ts parses this file and compares each value with
%%% lib/link/constants.ts: keep one define per line, plain decimal integers.

-define(MEGAPHONE_PROTOCOL_VERSION, 1).

%% Frame header: <length:10 digits>|<connection ID:20 digits>|
-define(MEGAPHONE_LENGTH_DIGITS, 10).
-define(MEGAPHONE_ID_DIGITS, 20).
-define(MEGAPHONE_HEADER_BYTES, 32).
-define(MEGAPHONE_SEPARATOR, $|).

%% Connection ID 0 carries control messages.
-define(MEGAPHONE_CONTROL_ID, 0).

%% Whole frame, header included.
-define(MEGAPHONE_DEFAULT_MAX_FRAME_BYTES, 1048576).

%% 2^53 - 1: the largest ID the front end issues (a JavaScript safe integer).
-define(MEGAPHONE_MAX_CONNECTION_ID, 9007199254740991).

-define(MEGAPHONE_DEFAULT_HEARTBEAT_INTERVAL_MS, 5000).
-define(MEGAPHONE_DEFAULT_HEARTBEAT_TIMEOUT_MS, 15000).

-define(MEGAPHONE_CONTROL_WORDS, [<<"challenge">>, <<"auth">>, <<"ready">>, <<"denied">>, <<"open">>, <<"close">>, <<"ping">>, <<"pong">>, <<"bye">>]).

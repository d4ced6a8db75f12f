%%% Constants and words of the Megaphone link protocol, version 1
%%% (docs/link-protocol.md, "Frames", "Control channel", "Session content").
%%%
%%% test/link/contract.test.ts parses this file and compares each value with
%%% the document's tables and lib/link/constants.ts: keep one define per line,
%%% plain decimal integers, word lists as lists of binaries.

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

%% The first word of every control message.
-define(MEGAPHONE_CONTROL_WORDS, [<<"challenge">>, <<"auth">>, <<"ready">>, <<"denied">>, <<"open">>, <<"close">>, <<"ping">>, <<"pong">>, <<"bye">>]).
%% `denied <reason>`
-define(MEGAPHONE_DENIED_REASONS, [<<"bad-secret">>, <<"bad-version">>, <<"malformed-auth">>]).
%% `close <id> <reason>`: the listener sends the first six, the front end
%% normal, timeout, error and shutdown.
-define(MEGAPHONE_CLOSE_REASONS, [<<"normal">>, <<"stream-error">>, <<"unknown-id">>, <<"open-failed">>, <<"frame-too-large">>, <<"shutdown">>, <<"timeout">>, <<"error">>]).
%% `bye <reason>`; malformed-frame is followed by a frame error.
-define(MEGAPHONE_BYE_REASONS, [<<"malformed-frame">>, <<"handshake-required">>, <<"handshake-timeout">>, <<"heartbeat-timeout">>, <<"duplicate-id">>, <<"unknown-control">>, <<"shutdown">>]).
%% Malformed frame headers.
-define(MEGAPHONE_FRAME_ERRORS, [<<"bad-length">>, <<"bad-id">>, <<"bad-separator">>, <<"length-too-small">>, <<"frame-too-large">>]).

%% RFC 7395 framing inside sessions.
-define(MEGAPHONE_NS_FRAMING, <<"urn:ietf:params:xml:ns:xmpp-framing">>).
-define(MEGAPHONE_NS_STREAM, <<"http://etherx.jabber.org/streams">>).
%% Qualified names of the elements written for stream events: header, end,
%% features, stream error.
-define(MEGAPHONE_FRAMING_ELEMENTS, [<<"open">>, <<"close">>, <<"stream:features">>, <<"stream:error">>]).

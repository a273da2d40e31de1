#!/usr/bin/env escript
%% How many queued messages an EMQX 5.8.6 session process holds before its
%% heap limit kills it, measured on this machine's Erlang/OTP (Debian's
%% erlang-base; EMQX 5.8.6 ships OTP 26). Not EMQX itself (it cannot run
%% here): a process set up as emqx_utils:tune_heap_size/1 sets up every
%% connection process (max_heap_size = 1.5 x force_shutdown.max_heap_size,
%% in words, kill => true), holding messages shaped as EMQX builds them
%% (emqx_packet:to_message/3 via emqx_channel:packet_to_message/2: the
%% #message{} record of emqx_message.hrl, headers as the channel sets them,
%% topic and payload sub-binaries of the received frame, the insert time
%% emqx_mqueue puts in `extra`) in an Erlang queue (emqx_pqueue's
%% lowest-priority fallback), each received as a {deliver, Topic, Msg}
%% message from another process, as emqx_broker delivers them.
%%
%% Usage: escript bench/emqx/session-heap.escript [MaxHeapMB ...]
%%        escript bench/emqx/session-heap.escript --hold N
%% The first prints, per limit, the number of messages held when the process
%% was killed and the heap bytes that makes per message. The second holds N
%% messages with no limit (force_shutdown.enable = false) and prints the
%% process's heap: the largest total_heap_size seen (GC included) and the
%% heap once it holds all N after a full collection.
-mode(compile).

-record(message, {id, qos = 0, from, flags = #{}, headers = #{}, topic, payload, timestamp, extra = #{}}).

main(["--hold", N]) ->
    hold_unlimited(list_to_integer(N));
main(Args) ->
    Limits = case Args of [] -> [32]; _ -> [list_to_integer(A) || A <- Args] end,
    WordSize = erlang:system_info(wordsize),
    io:format("otp ~s, wordsize ~p~n", [erlang:system_info(otp_release), WordSize]),
    One = message(1),
    io:format("one queued message: ~p words on the heap (erts_debug:size), payload ~p bytes off-heap~n",
              [erts_debug:size(One), byte_size(One#message.payload)]),
    [measure(MB, WordSize) || MB <- Limits],
    ok.

measure(MB, WordSize) ->
    Words = MB * 1024 * 1024 div WordSize,
    Counter = atomics:new(1, []),
    {Holder, Ref} = spawn_monitor(fun() -> holder(Words, Counter) end),
    sender(Holder, 1),
    receive {'DOWN', Ref, process, Holder, Reason} ->
        Held = atomics:get(Counter, 1),
        Killed = trunc(Words * 1.5) * WordSize,
        io:format("force_shutdown.max_heap_size ~p MB (kill at ~.1f MB): killed (~p) holding ~p messages: ~p heap bytes per message~n",
                  [MB, Killed / 1048576, Reason, Held, Killed div max(Held, 1)])
    end.

hold_unlimited(N) ->
    WordSize = erlang:system_info(wordsize),
    Counter = atomics:new(1, []),
    Holder = spawn(fun() -> hold(queue:new(), 0, Counter) end),
    Peak = send_n(Holder, 1, N, 0, WordSize),
    Holder ! {sync, self()}, receive synced -> ok end,
    erlang:garbage_collect(Holder),
    {total_heap_size, Live} = process_info(Holder, total_heap_size),
    {memory, Memory} = process_info(Holder, memory),
    {binary, Bins} = process_info(Holder, binary),
    OffHeap = lists:sum([Size || {_, Size, _} <- Bins]),
    io:format("~p messages held, no limit: peak total_heap_size ~.1f MB (~p bytes per message), "
              "after a full GC ~.1f MB (~p bytes per message), process memory ~.1f MB, off-heap binaries ~.1f MB~n",
              [N, Peak / 1048576, Peak div N, Live * WordSize / 1048576, Live * WordSize div N, Memory / 1048576, OffHeap / 1048576]).

send_n(_Holder, I, N, Peak, _WordSize) when I > N -> Peak;
send_n(Holder, I, N, Peak, WordSize) ->
    Msg = message(I),
    Holder ! {deliver, Msg#message.topic, Msg},
    case I rem 1000 of
        0 ->
            Holder ! {sync, self()}, receive synced -> ok end,
            {total_heap_size, Size} = process_info(Holder, total_heap_size),
            send_n(Holder, I + 1, N, max(Peak, Size * WordSize), WordSize);
        _ ->
            send_n(Holder, I + 1, N, Peak, WordSize)
    end.

holder(Words, Counter) ->
    %% As emqx_utils:tune_heap_size/1 does for every connection process.
    erlang:process_flag(max_heap_size, #{size => trunc(Words * 1.5), kill => true, error_logger => false}),
    hold(queue:new(), 0, Counter).

hold(Q, N, Counter) ->
    receive
        {deliver, _Topic, Msg = #message{extra = Extra}} ->
            %% emqx_mqueue:with_ts/1: the insert time in nanoseconds.
            Q1 = queue:in(Msg#message{extra = Extra#{mqueue_insert_ts => erlang:system_time(nanosecond)}}, Q),
            atomics:put(Counter, 1, N + 1),
            hold(Q1, N + 1, Counter);
        {sync, From} ->
            From ! synced,
            hold(Q, N, Counter)
    end.

sender(Holder, N) ->
    case is_process_alive(Holder) of
        false -> ok;
        true ->
            Msg = message(N),
            Holder ! {deliver, Msg#message.topic, Msg},
            %% Keep the holder's mailbox short, as a live session process does.
            case N rem 1000 of
                0 -> Holder ! {sync, self()}, receive synced -> ok after 5000 -> ok end;
                _ -> ok
            end,
            sender(Holder, N + 1)
    end.

%% A simulator reading as a gateway publishes it (QoS 1, MQTT 5), parsed
%% from a frame of its own (the socket's data: a refc binary above 64 bytes).
message(N) ->
    Device = iolist_to_binary(io_lib:format("dev-~3..0b", [N rem 1000])),
    Topic0 = <<"sensors/lab/", Device/binary, "/telemetry">>,
    Payload0 = iolist_to_binary(io_lib:format("{\"temperature\":~.1f,\"humidity\":~.1f,\"battery\":~p,\"ts\":~p}",
                                              [20 + (N rem 50) / 10, 40 + (N rem 90) / 10, 97, 1732280000000 + N])),
    Frame = <<(byte_size(Topic0)):16, Topic0/binary, N:16, 0, Payload0/binary>>,
    TLen = byte_size(Topic0),
    <<TLen:16, Topic:TLen/binary, _PacketId:16, 0, Payload/binary>> = Frame,
    #message{
        id = crypto:strong_rand_bytes(16),
        qos = 1,
        from = Device,
        flags = #{dup => false, retain => false},
        headers = #{client_attrs => #{}, peername => {{172, 18, 0, 7}, 40000 + N rem 1000}, proto_ver => 5,
                    protocol => mqtt, username => <<"gateway">>, peerhost => {172, 18, 0, 7}, properties => #{}},
        topic = Topic,
        payload = Payload,
        timestamp = erlang:system_time(millisecond)
    }.

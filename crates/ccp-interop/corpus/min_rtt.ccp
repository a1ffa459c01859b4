(def
    (state_var 0)
    (Report
        (minrtt +infinity)
        (volatile acked 0)
    )
)
# track the smallest RTT sample and the bytes acked since the last report
(when true
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (fallthrough)
)
# report every 50 ms
(when (> Micros 50000)
    (:= Micros 0)
    (report)
)

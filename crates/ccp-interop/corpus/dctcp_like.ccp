(def
    (Report
        (volatile acked 0)
        (volatile marked 0)
        (alpha 0)
    )
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.marked (+ Report.marked Ack.ecn_bytes))
    (fallthrough)
)
(when (> Micros Flow.rtt_sample_us)
    (:= Report.alpha (ewma 9 (/ (* Report.marked 1024) (max Report.acked 1))))
    (:= Micros 0)
    (report)
)

(def
    (Report
        (volatile acked 0)
        (volatile loss 0)
        (volatile timeout false)
        (rtt 0)
    )
)
# accumulate per-ACK measurements
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (fallthrough)
)
# report at once on loss or timeout
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0)
)
# otherwise report once per RTT
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)

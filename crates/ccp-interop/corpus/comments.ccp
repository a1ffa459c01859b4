(def (Report (volatile acked 0) (volatile rtt 0)))
# first clause: every ACK
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.rtt Flow.rtt_sample_us)
    (fallthrough)
)
# second clause: once per RTT
(when (> Micros Report.rtt)
    (:= Micros 0)
    (report)
)

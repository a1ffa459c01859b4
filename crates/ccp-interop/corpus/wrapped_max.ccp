(def (Report (volatile latest 0) (volatile seq 0)))
(when true
    (:= Report.latest (wrapped_max Report.latest Ack.now))
    (:= Report.seq (wrapped_max Report.seq Flow.bytes_pending))
    (fallthrough)
)
(when (> Ack.packets_acked 1)
    (report)
)

(def
    (Report
        (volatile minrtt +infinity)
        (maxrate 0)
    )
    (floor +infinity)
)
(when true
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.maxrate (max Report.maxrate Flow.rate_incoming))
    (:= floor (min floor Report.minrtt))
    (fallthrough)
)
(when (> Micros 50000)
    (:= Micros 0)
    (report)
)

(def (Report.foo +infinity))
(when true
    (bind Report.foo (if (< Flow.rtt_sample_us Report.foo) Flow.rtt_sample_us))
)

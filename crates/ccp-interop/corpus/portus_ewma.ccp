(def (Report.foo 0))
(when true
    (bind Report.foo (ewma 2 Flow.rate_outgoing))
)

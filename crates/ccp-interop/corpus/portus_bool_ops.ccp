(def (Report.acked 0) (Control.state 0))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (fallthrough)
)
(when (&& (> Micros 3000000) (== Control.state 0))
    (:= Control.state 1)
    (report)
)

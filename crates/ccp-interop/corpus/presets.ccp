(def
    (Report
        (volatile acked 0)
        (threshold 10)
    )
    (reportTime 0)
    (volatile gain 1)
)
(when true
    (:= Report.acked (+ Report.acked (* Ack.bytes_acked gain)))
    (fallthrough)
)
(when (|| (> Micros reportTime) (> Report.acked Report.threshold))
    (:= Micros 0)
    (report)
)

(def
    (Report
        (volatile a 0)
        (volatile b 0)
        (volatile c 0)
    )
)
(when true
    (:= Report.a (+ Report.a 1))
    (fallthrough)
)
(when (> Ack.bytes_acked 0)
    (:= Report.b (+ Report.b 1))
)
(when true
    (:= Report.c (+ Report.c 1))
    (fallthrough)
)
(when (> Report.a 9)
    (report)
)

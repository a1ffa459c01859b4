(def (Report (volatile never 0) (volatile always 0)))
(when false
    (:= Report.never 1)
    (report)
)
(when true
    (:= Report.always (+ Report.always 1))
    (report)
)

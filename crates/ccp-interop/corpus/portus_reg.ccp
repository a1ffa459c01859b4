(def (Report.foo 0))
(when true
    (bind Report.foo 4)
)

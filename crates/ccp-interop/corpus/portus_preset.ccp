(def
    (Report
        (testFoo 0)
    )
    (foo 0)
)
(when true
    (:= Report.testFoo foo)
    (report)
)

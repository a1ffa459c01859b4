(def (controlFoo 0))
(when true
    (bind  controlFoo (if (== controlFoo 0) (+ controlFoo 1)))
)

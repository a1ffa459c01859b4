(def (Report (volatile ecnpackets 0)))
# count ECN-marked packets on every ACK
(when true
    (:= Report.ecnpackets (+ Report.ecnpackets Ack.ecn_packets))
    (fallthrough)
)
# report every millisecond
(when (> Micros 1000)
    (:= Micros 0)
    (report)
)

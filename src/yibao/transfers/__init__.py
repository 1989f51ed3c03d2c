"""Transfer between pooling regions (医保关系转移接续) and emergency refunds.

A transfer goes request → review by the old region → transfer out → transfer in, each step
dated and due within a working-day deadline from the policy data (医保办发〔2021〕43号: out
within 10 working days, in within 5). Money moves through the clearing account, so the
total over both regions never changes; contributions stay attached to the person, whose
region changes on transfer in. Emergency costs the person paid and staff approved come
back to the account within a deadline of their own. Open steps are listed for staff with
their due dates and an overdue flag.
"""

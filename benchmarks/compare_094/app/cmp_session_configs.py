CMP_SESSION_CONFIGS = [
    dict(name="cmp_plain", display_name="cmp plain", num_demo_participants=2,
         app_sequence=["cmpapp"], period_length=4),
    dict(name="cmp_subperiods", display_name="cmp 4 sub-periods", num_demo_participants=2,
         app_sequence=["cmpapp"], period_length=4, num_subperiods=4),
    dict(name="cmp_ratelimit", display_name="cmp rate limit 0.5 s", num_demo_participants=2,
         app_sequence=["cmpapp"], period_length=4, rate_limit=0.5),
]

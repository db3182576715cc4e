"""Push notifications (spec: "Push Notifications", "Mentioning"): push rules as data, the
rule evaluator, and each user's rules kept as `m.push_rules` account data."""

"""The operate half's eyes: live usage from Supabase, Vercel, Sentry, AWS and Upstash, judged
against the stack's phase (`floyo-scale status`). One small client per source; the verdicts
and the recommendation are pure functions over what they read. `advisors` reads Supabase's
performance and security advisors for `db advise`.

May import: errors, catalog, sharding, spec, infra (the Supabase Management API client only),
offline, cost. Never render, engine or cli: the CLI hands in a reader of the stack's outputs.
"""

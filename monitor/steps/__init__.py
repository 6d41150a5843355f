"""The stream as a chain of small steps, in the manner of getsentry/arroyo:

    poll -> decode -> classify -> store -> commit

Each step is an object that owns its own state and speaks one narrow interface (`step.Step`: submit / poll /
join / close). A step hands what it made to the next one; a step that cannot take a batch now raises
`MessageRejected` and the one before it keeps the batch (the model never runs twice on a batch). Only the
poll step reacts to that (backpressure: it holds its batch and pauses the partitions, polling on so the group
keeps it); only the store step retries the database; only the commit step retries offset commits, and it sees
nothing that store has not confirmed. `chain.build_chain` puts them together; monitor/daemon.py drives them.
"""

"""What an operation does, verb by verb, and how one is requested, carried out
and followed. No Celery here: the tasks layer passes in how to start the work.

    verbs       the registry: one entry per verb (deploy, stop, down, restart)
    requests    record an operation, audit it, start it once committed
    execute     carry a recorded operation out on its engine, under the stack's lock
    planning    what a deploy would do now; the confirmed plan binds the deploy
    follow      wait for an operation's steps and outcome (Redis notices, no polling)"""

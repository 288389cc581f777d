# The example of DESIGN.md §4. On a pull request the review diffs against the target branch;
# on a push to main (where there is no pull request) against the commit before the push.
from plue import workflow, push, pull_request
from plue.prompts import CodeReview

@workflow(triggers=[push(branches=["main"]), pull_request()])
def ci(ctx):
    ctx.run(name="install", cmd="npm ci")
    ctx.run(name="test", cmd="npm test")
    base = ctx.event.pull_request.base if ctx.event.pull_request else ctx.event.before
    review = CodeReview(diff=ctx.git.diff(base=base))
    return ctx.success(approved=review.approved)

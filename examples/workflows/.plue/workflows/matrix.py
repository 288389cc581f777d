# Tests on several Node versions in parallel after one shared build, then a summary step that
# reads their exit codes. Also runnable by hand with a chosen set of versions.
from plue import workflow, push, pull_request, manual

VERSIONS = ["18", "20", "22"]

def test_cmd(version, suite):
    return f"npx -y node@{version} --test {suite}"

@workflow(
    triggers=[
        push(branches=["main", "release/*"], paths=["src/**", "test/**", "package.json"]),
        pull_request(types=["opened", "synchronize"]),
        manual(inputs={"versions": "20,22", "suite": "test/"}),
    ],
    timeout="45m",
    concurrency={"group": "matrix-{ref}", "cancel_in_progress": True},
)
def matrix(ctx):
    versions = ctx.event.inputs["versions"].split(",") if ctx.event.kind == "manual" else VERSIONS
    suite = ctx.event.inputs["suite"] if ctx.event.kind == "manual" else "test/"
    build = ctx.run(name="build", cmd="npm ci && npm run build", timeout="10m")
    tests = [
        ctx.run(name=f"test-node{v.strip()}", cmd=test_cmd(v.strip(), suite), needs=[build], retries=1)
        for v in versions
        if v.strip()
    ]
    codes = " ".join([f"{t.exit_code}" for t in tests])
    ctx.run(name="summary", cmd=f"echo exit codes: {codes}", needs=tests, env={"VERSIONS": ",".join(versions)})
    return ctx.success(versions=len(tests))

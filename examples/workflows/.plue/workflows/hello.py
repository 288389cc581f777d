from plue import workflow, push

@workflow(triggers=[push()])
def hello(ctx):
    ctx.run(name="hello", cmd='echo "Hello from CI"')

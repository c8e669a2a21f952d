"""The sandbox runs model-written code in a limited child process and reports every failure as a RunResult."""

import dis
import os
import threading
import types
from pathlib import Path

import anyio
import numpy as np
import pytest

from ttclab.errors import UserError
from ttclab.sandbox import Limits, RunResult, run_python, run_python_async, runner


def run(code: str, folder: Path, **kwargs) -> RunResult:
    return run_python(code, folder=folder, **kwargs)


def test_result_value_and_variables(tmp_path):
    result = run("x = 2\nresult = [x, x * 3]\n_hidden = 1\nimport math\ndef f(): pass", tmp_path)
    assert result.ok and result.error is None
    assert result.value == [2, 6]
    assert result.variables == {"x": 2, "result": [2, 6]}


def test_call_transform_with_numpy_grid(tmp_path):
    code = "import numpy as np\ndef transform(grid):\n    return np.array(grid)[::-1] + offset\n"
    grid = np.array([[1, 2], [3, 4]])
    result = run(code, tmp_path, call="transform", args=[grid], inputs={"offset": 10})
    assert result.ok, result.stderr
    assert result.value == [[13, 14], [11, 12]]


def test_non_json_values_come_back_as_repr(tmp_path):
    result = run("import numpy as np\nresult = {'a': np.int64(3), 'b': {1, 2}}", tmp_path)
    assert result.value == {"a": 3, "b": "{1, 2}"}


def test_stdout_captured_and_truncated(tmp_path):
    assert run("print('hello')", tmp_path).stdout == "hello\n"
    result = run("print('y' * 5000)", tmp_path, limits=Limits(output_bytes=100))
    assert result.ok and result.truncated
    assert result.stdout.startswith("y" * 100)
    assert "not shown" in result.stdout and len(result.stdout) < 300


def test_infinite_loop_times_out(tmp_path):
    # the wall clock is the runner's to enforce; how long that took on a shared machine is not this test's business
    result = run("while True:\n    pass", tmp_path, limits=Limits(seconds=1))
    assert not result.ok and result.error.startswith("TimeoutError")


def test_memory_bomb_is_contained(tmp_path):
    result = run("x = []\nwhile True:\n    x.append(' ' * 10**6)", tmp_path, limits=Limits(memory_mb=256))
    assert not result.ok
    assert result.error.startswith(("MemoryError", "killed"))
    assert run("result = 1", tmp_path).value == 1  # the parent is fine


def test_exception_gives_error_line_and_traceback(tmp_path):
    result = run("a = 1\nb = a / 0", tmp_path)
    assert not result.ok and result.value is None
    assert result.error == "ZeroDivisionError: division by zero"
    assert 'File "<code>", line 2' in result.stderr and "runner.py" not in result.stderr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import socket\nsocket.create_connection(('1.1.1.1', 80))", "blocked: network access"),
        ("import subprocess\nsubprocess.run(['ls'])", "blocked: starting processes"),
        ("import os\nos.system('ls')", "blocked: starting processes"),
        ("import _posixsubprocess\n_posixsubprocess.fork_exec()", "blocked: starting processes"),
        ("open('/tmp/outside.txt', 'w').write('x')", "blocked: writing outside the folder"),
        ("open('../x', 'w').write('x')", "blocked: writing outside the folder"),
        ("open('/etc/passwd').read()", "blocked: reading outside the folder"),
        ("import ctypes\nctypes.CDLL('libc.so.6')", "blocked: ctypes"),
        ("import os\nos.symlink('/etc', 'etc')", "blocked: creating symlinks"),
        ("import os\nos.kill(999999, 0)", "blocked: signalling other processes"),
    ],
)
def test_dangerous_actions_are_blocked(tmp_path, code, expected):
    outside_before = Path("/tmp/outside.txt").exists()
    result = run(code, tmp_path)
    assert not result.ok
    assert result.error.startswith(expected), result.error
    assert Path("/tmp/outside.txt").exists() == outside_before
    assert not (tmp_path.parent / "x").exists()


def test_caught_block_is_still_reported(tmp_path):
    result = run("try:\n    open('/etc/passwd')\nexcept OSError:\n    pass\nresult = 1", tmp_path)
    assert not result.ok and result.value == 1
    assert result.error.startswith("blocked: reading outside the folder")


def test_patching_os_path_does_not_fool_the_hook(tmp_path):
    code = f"import os.path\nos.path.realpath = lambda p: {str(tmp_path / 'x')!r}\nopen('../escape', 'w')"
    result = run(code, tmp_path)
    assert result.error.startswith("blocked: writing outside the folder")
    assert not (tmp_path.parent / "escape").exists()


def test_audit_hook_loads_no_globals():
    def nested(code: types.CodeType):
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield const
                yield from nested(const)

    for code in nested(runner._make_audit_hook.__code__):
        ops = {instruction.opname for instruction in dis.get_instructions(code)}
        assert not ops & {"LOAD_GLOBAL", "LOAD_NAME"}, code.co_name


def test_files_inside_the_folder_work(tmp_path):
    code = "from pathlib import Path\nPath('sub').mkdir()\nopen('sub/a.txt', 'w').write('hi')\n"
    code += "result = Path('sub/a.txt').read_text()"
    result = run(code, tmp_path)
    assert result.ok, result.error
    assert result.value == "hi" and (tmp_path / "sub" / "a.txt").read_text() == "hi"


def test_file_size_limit(tmp_path):
    result = run("open('big', 'wb').write(b'x' * (3 * 1024 * 1024))", tmp_path, limits=Limits(file_mb=1))
    assert not result.ok and "File too large" in result.error


def test_import_numpy_works(tmp_path):
    result = run("import numpy as np\nresult = int(np.arange(10).sum())", tmp_path)
    assert result.ok and result.value == 45


def test_api_calls_and_exceptions(tmp_path):
    seen = []

    def read_file(path):
        seen.append(path)
        return {"path": path, "text": "notes"}

    def fail(reason):
        raise ValueError(f"cannot: {reason}")

    api = {"read_file": read_file, "fail": fail}
    result = run("print('noise')\nresult = read_file('user.md')['text']", tmp_path, api=api)
    assert result.ok and result.value == "notes" and seen == ["user.md"] and result.stdout == "noise\n"
    result = run("fail('x')", tmp_path, api=api)
    assert not result.ok and result.error == "ValueError: cannot: x"
    result = run("try:\n    fail('y')\nexcept ValueError as e:\n    result = str(e)", tmp_path, api=api)
    assert result.ok and result.value == "cannot: y"


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    result = run("import os\nresult = dict(os.environ)", tmp_path)
    assert result.ok and "OPENAI_API_KEY" not in result.value
    assert result.value["HOME"] == os.path.realpath(tmp_path)


def test_async_under_anyio(tmp_path):
    async def main():
        return await run_python_async("result = 6 * 7", folder=tmp_path)

    assert anyio.run(main).value == 42


def test_concurrent_runs(tmp_path):
    results = {}

    def one(n):
        results[n] = run(f"result = {n}", tmp_path).value

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n for n in range(4)}


def test_bad_arguments_raise_user_error(tmp_path):
    with pytest.raises(UserError, match="not an existing directory"):
        run("result = 1", tmp_path / "missing")
    with pytest.raises(UserError, match="not JSON-able"):
        run("result = 1", tmp_path, inputs={"x": object()})
    with pytest.raises(UserError, match="must be positive"):
        Limits(seconds=-1)
    with pytest.raises(UserError, match="identifier"):
        run("result = 1", tmp_path, inputs={"not a name": 1})

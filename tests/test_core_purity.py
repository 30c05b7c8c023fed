import subprocess
import sys


def test_core_imports_no_io_library():
    code = (
        "import sys, core, core.events, core.loading;"
        "bad = [m for m in ('boto3', 'botocore', 'sqlalchemy', 'pymysql') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

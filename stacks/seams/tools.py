"""The validators we run as processes (promtool, amtool): (exit code, output),
with a timeout, and their messages with our temporary directory taken out."""
import subprocess

TOOL_TIMEOUT = 30


def run_tool(args, cwd):
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 1, f"{args[0]} did not answer within {TOOL_TIMEOUT}s"
    return out.returncode, (out.stdout + out.stderr).strip()


def tool_message(output, workdir):
    # Show the tool's own words, with our temporary directory taken out.
    # amtool puts its reason on the "Checking 'file'  FAILED: reason" line itself.
    lines = [line.replace(str(workdir) + "/", "") for line in output.splitlines()]
    lines = [line[line.index("FAILED:"):] if line.startswith("Checking ") and "FAILED:" in line else line
             for line in lines]
    return "\n".join(line for line in lines if line.strip() and not line.startswith("Checking "))

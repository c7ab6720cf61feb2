"""The line pattern in Java, as Athena's RegexSerDe applies it (``Pattern.compile(input.regex)``, then
``matcher.matches()`` on each line, group i -> column i), gives the same columns as DuckDB's RE2.

Real Java (the JDK on this machine), in a worker thread with Java's default stack size, as a query engine's
would be: a regex whose repetition recursed per character would overflow on the 2 MB statement here. No
Hive/Athena can run offline, so RegexSerDe's two lines of glue are written out in the Java below.
Skipped where no JDK is installed (apt-get install default-jdk-headless).
"""

from __future__ import annotations

import base64
import random
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from labkit.query.schema import COLUMN_NAMES, LINE_PATTERN
from tests.support.audit_samples import SAMPLES, server_escape

pytestmark = pytest.mark.slow  # compiles and runs Java

JAVA = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.*;

public class LinePattern {
    public static void main(String[] args) throws Exception {
        Pattern pattern = Pattern.compile(new String(Base64.getDecoder().decode(args[0]), StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        Thread worker = new Thread(() -> {
            try {
                String line;
                while ((line = in.readLine()) != null) {
                    line = new String(Base64.getDecoder().decode(line), StandardCharsets.UTF_8);
                    Matcher m = pattern.matcher(line);
                    if (!m.matches()) { out.println("NOMATCH"); continue; }
                    StringBuilder row = new StringBuilder();
                    for (int g = 1; g <= m.groupCount(); g++) {
                        String v = m.group(g);
                        row.append(g > 1 ? "\t" : "").append(v == null ? "-"
                            : "+" + Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8)));
                    }
                    out.println(row);
                }
            } catch (IOException e) { throw new UncheckedIOException(e); }
        });
        worker.start();
        worker.join();
    }
}
"""


def lines() -> list[str]:
    rng = random.Random(9)
    alphabet = "abc ,'\\\n\r\t()é\u2028\ufffd;*-/#0"
    out = [line for line, _ in SAMPLES]
    out += ["", "garbage", "a,b,c", "20261126 15:29:21,vm,u,h,1,2,QUERY,d,'x'y',0", "1,2,3,4,5,6,QUERY,8,'\\"]
    for i in range(300):
        sql = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        stamp = rng.choice(["20261126 15:29:21", "1703817810074458", "x"])
        obj = rng.choice([f"'{server_escape(sql)}'", "tbl", "", f"'{server_escape(sql)}"])
        tail = rng.choice([",0", ",", "", ",1045,a,b", ",-1"])
        out.append(f"{stamp},srv,u{i},h,{i},{i + 1},{rng.choice(['QUERY', 'READ', 'query'])},db,{obj}{tail}")
    big = "INSERT INTO t VALUES " + ", ".join(f"({i}, 'it''s \\{i}')" for i in range(100_000))
    out.append(f"20261126 15:29:21,vm,u,h,1,2,QUERY,d,'{server_escape(big)}',0")
    return out


@pytest.fixture(scope="module")
def java_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("javac") and shutil.which("java")):
        pytest.skip("no JDK: apt-get install -y default-jdk-headless to check the pattern in Java")
    directory = tmp_path_factory.mktemp("java")
    (directory / "LinePattern.java").write_text(JAVA)
    subprocess.run(["javac", "LinePattern.java"], cwd=directory, check=True, timeout=300)
    return directory


def test_java_and_re2_read_every_line_into_the_same_columns(java_class: Path) -> None:
    given = lines()
    encoded = "\n".join(base64.b64encode(line.encode()).decode() for line in given) + "\n"
    pattern = base64.b64encode(LINE_PATTERN.encode()).decode()
    run = subprocess.run(
        ["java", "-cp", str(java_class), "LinePattern", pattern],
        input=encoded.encode(),
        capture_output=True,
        check=True,
        timeout=600,
    )
    answers = run.stdout.decode().splitlines()
    assert len(answers) == len(given), run.stderr.decode()[-2000:]
    con = duckdb.connect()
    names = ", ".join(f"'{n}'" for n in COLUMN_NAMES)
    regex = "'^" + LINE_PATTERN.replace("'", "''") + "$'"
    for line, answer in zip(given, answers, strict=True):
        assert answer != "NOMATCH", line[:200]  # every line is a row, RegexSerDe drops none
        java = [None if v == "-" else base64.b64decode(v[1:]).decode() for v in answer.split("\t")]
        (re2,) = con.execute(f"SELECT regexp_extract(?, {regex}, [{names}])", [line]).fetchone()  # type: ignore[misc]
        # RE2 answers '' for a group that took no part; Java answers null (Athena: NULL)
        assert [v or "" for v in java] == [re2[n] for n in COLUMN_NAMES], line[:200]
        assert (java[COLUMN_NAMES.index("operation")] is None) == (re2["operation"] == "")

"""The Spark driver's garbage collector: the parallel one unless something the process can
see chooses another (two collectors stop the JVM at start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fs_assets.engines.spark_warehouse import THROUGHPUT_GC, driver_gc_options

OPTIONS = "spark.driver.extraJavaOptions"


def test_with_nothing_chosen_the_driver_runs_the_parallel_collector() -> None:
    assert driver_gc_options({}, {}) == {OPTIONS: THROUGHPUT_GC}


def test_the_driver_options_of_the_settings_are_kept_before_it() -> None:
    settings = {OPTIONS: "-Dfs.trace=1"}
    assert driver_gc_options(settings, {}) == {OPTIONS: f"-Dfs.trace=1 {THROUGHPUT_GC}"}


@pytest.mark.parametrize("variable", ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"])
def test_a_collector_in_the_jvm_environment_is_left_alone(variable: str) -> None:
    assert driver_gc_options({}, {variable: "-Xss4m -XX:+UseSerialGC"}) == {}
    assert driver_gc_options({}, {variable: "-Xss4m"}) == {OPTIONS: THROUGHPUT_GC}


def test_a_collector_in_the_settings_is_left_alone() -> None:
    settings = {"spark.driver.defaultJavaOptions": "-XX:+UseG1GC -Xss4m"}
    assert driver_gc_options(settings, {}) == {}


def test_a_collector_in_sparks_defaults_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "spark-defaults.conf").write_text(
        "spark.driver.extraJavaOptions  -XX:+UseZGC\n", encoding="utf-8"
    )
    assert driver_gc_options({}, {"SPARK_CONF_DIR": str(tmp_path)}) == {}
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "spark-defaults.conf").write_text(
        "spark.executor.extraJavaOptions  -XX:+UseShenandoahGC\n", encoding="utf-8"
    )
    assert driver_gc_options({}, {"SPARK_HOME": str(tmp_path)}) == {}
    (tmp_path / "conf" / "spark-defaults.conf").write_text(
        "spark.driver.memory  4g\n", encoding="utf-8"
    )
    assert driver_gc_options({}, {"SPARK_HOME": str(tmp_path)}) == {OPTIONS: THROUGHPUT_GC}

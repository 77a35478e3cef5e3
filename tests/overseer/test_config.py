"""overseer.config: one rule for units (dashed keys ms, as Overseer; Python names seconds), checked values."""

import datetime as dt

import pytest

import fact_store as fs
import overseer
from overseer.config import Config, epoch_ms, load_callable, load_file


def test_a_copied_overseer_config_means_what_it_meant_in_overseer():
    # Overseer's documented example, keys and values as in its Configuration guide (ms)
    c = Config.from_mapping({"sleep-time": 10000, "detector-sleep-time": 2000,
                             "heartbeat": {"enabled": True, "sleep-time": 60000, "tolerance": 5,
                                           "monitor-shutdown": True}}, env={})
    assert (c.sleep_time, c.heartbeat_interval, c.heartbeat_tolerance) == (10.0, 60.0, 5.0)


def test_an_overseer_config_read_as_edn_keywords_works_too():
    m = fs.read_edn("{:sleep-time 500 :heartbeat {:sleep-time 2000 :tolerance 4} :datomic {:uri \"x\"}}")
    c = Config.from_mapping(m, env={})
    assert (c.sleep_time, c.heartbeat_interval, c.heartbeat_tolerance) == (0.5, 2.0, 4.0)


def test_python_names_are_seconds_in_a_map_in_keywords_and_in_the_environment():
    assert Config.from_mapping({"sleep_time": 2, "heartbeat": {"interval": 3}}, env={}).sleep_time == 2.0
    assert Config.from_mapping({"heartbeat_interval": 3}, env={}).heartbeat_interval == 3.0
    assert Config(sleep_time=2, heartbeat_interval=0.25).heartbeat_interval == 0.25
    assert Config.from_mapping({}, env={"OVERSEER_HEARTBEAT_INTERVAL": "7"}).heartbeat_interval == 7.0


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("10s", 10.0), ("1.5 s", 1.5), ("2m", 120.0),
                                           ("1h", 3600.0), ("5min", 300.0)])
def test_a_unit_in_the_value_means_the_same_under_any_spelling(text, seconds):
    assert Config.from_mapping({"heartbeat": {"sleep-time": text}}, env={}).heartbeat_interval == seconds
    assert Config.from_mapping({"heartbeat_interval": text}, env={}).heartbeat_interval == seconds
    assert Config(heartbeat_interval=text).heartbeat_interval == seconds


def test_seconds_under_an_overseer_key_are_refused_naming_the_unit_and_the_fix():
    with pytest.raises(overseer.ConfigError) as e:
        Config.from_mapping({"heartbeat": {"sleep-time": 60}}, env={})
    msg = str(e.value)
    assert msg.startswith("config :heartbeat :sleep-time 60 is read in milliseconds")
    assert "write 60000 or \"60s\"" in msg
    with pytest.raises(overseer.ConfigError, match="config :sleep-time 10 is read in milliseconds"):
        Config.from_mapping({":sleep-time": 10}, env={})


def test_milliseconds_under_a_python_name_are_refused_not_read_as_83_hours():
    # the case: an Overseer heartbeat (ms) under a seconds spelling
    with pytest.raises(overseer.ConfigError) as e:
        Config.from_mapping({"heartbeat": {"interval": 300000}}, env={})
    assert "is read in seconds" in str(e.value) and "83.3 hours is implausibly long" in str(e.value)
    assert "{:heartbeat {:sleep-time 300000}}" in str(e.value)
    with pytest.raises(overseer.ConfigError, match="OVERSEER_SLEEP_TIME 10000 is read in seconds"):
        Config.from_mapping({}, env={"OVERSEER_SLEEP_TIME": "10000"})
    with pytest.raises(overseer.ConfigError, match="sleep_time 10000 is read in seconds"):
        Config(sleep_time=10000)


def test_an_explicit_unit_is_taken_as_written_even_when_unusual():
    assert Config.from_mapping({"heartbeat": {"sleep-time": "20ms"}}, env={}).heartbeat_interval == 0.02
    assert Config(sleep_time="10000s").sleep_time == 10000.0
    assert Config.from_mapping({"sleep-time": 0, "detector-stagger": 0}, env={}).sleep_time == 0.0


@pytest.mark.parametrize("m, message", [
    ({"sleeptime": 1}, "unknown config key :sleeptime; known: "),
    ({"heartbeat": {"beat": 1}}, "unknown heartbeat setting :beat"),
    ({"concurrency": 0}, "config :concurrency must be 1 or more, got 0"),
    ({"concurrency": "two"}, 'config :concurrency must be a whole number, got "two"'),
    ({"heartbeat": {"enabled": "maybe"}}, 'config :heartbeat :enabled must be true or false, got "maybe"'),
    ({"sleep-time": [1]}, "config :sleep-time must be a duration: .* got \\[1\\]"),
    ({"sleep-time": -5}, "config :sleep-time must be 0 or more, got -5"),
    ({"sentry": {"environment": "prod"}}, 'config :sentry needs a :dsn string, got {"environment" "prod"}'),
    ({"on-error": "nocolon"}, 'config :on-error must be "module:function", got "nocolon"'),
    ({"on-error": "no_such_module_x:f"}, "config :on-error: cannot import module no_such_module_x"),
    ({"on-error": "os.path:nope"}, "config :on-error: module os.path has no attribute nope"),
])
def test_bad_values_are_config_errors_rendered_as_edn(m, message):
    with pytest.raises(overseer.ConfigError, match=message) as e:
        Config.from_mapping(m, env={})
    assert "Keyword(" not in str(e.value) and "'" not in str(e.value).split(";")[0]


def test_on_error_loads_module_function():
    c = Config.from_mapping({"on-error": "os.path:join"}, env={})
    assert c.on_error("a", "b") == "a/b"
    assert load_callable("os.path:join") is c.on_error


def test_config_files_in_edn_and_json(tmp_path):
    p = tmp_path / "overseer.edn"
    p.write_text('{:sleep-time 2000 :heartbeat {:sleep-time 60000 :tolerance 5} :sentry {:dsn "http://k@h/1"}}')
    c = Config.from_mapping(load_file(p), env={})
    assert (c.sleep_time, c.heartbeat_interval, c.sentry) == (2.0, 60.0, {"dsn": "http://k@h/1"})
    j = tmp_path / "overseer.json"
    j.write_text('{"heartbeat": {"sleep-time": 1000}}')
    assert Config.from_mapping(load_file(j), env={}).heartbeat_interval == 1.0
    bad = tmp_path / "bad.edn"
    bad.write_text("{:sleep-time")
    with pytest.raises(overseer.ConfigError, match="bad.edn does not parse"):
        load_file(bad)
    with pytest.raises(overseer.ConfigError, match="cannot read config file .*missing.edn"):
        load_file(tmp_path / "missing.edn")
    vec = tmp_path / "vec.edn"
    vec.write_text("[1 2]")
    with pytest.raises(overseer.ConfigError, match=r"must hold a map, got \[1 2\]"):
        load_file(vec)


def test_describe_is_edn_with_units_in_the_names():
    text = Config(sleep_time=2).describe()
    assert text.startswith("{:sleep-time-s 2.0, :heartbeat-enabled true")
    assert fs.read_edn(text)[fs.Keyword(":concurrency")] == 1


def test_jobs_dead_takes_epoch_ms_or_a_datetime_and_refuses_epoch_seconds(mem_conn):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ms = int(now.timestamp() * 1000)
    assert epoch_ms(now) == ms
    with pytest.raises(overseer.ConfigError, match=f"looks like epoch seconds.*pass {ms}"):
        overseer.jobs_dead(mem_conn.db(), now.timestamp())
    with pytest.raises(overseer.ConfigError, match="has no timezone"):
        epoch_ms(dt.datetime(2026, 1, 1))
    with pytest.raises(overseer.ConfigError, match='got "soon"'):
        epoch_ms("soon")


def test_every_duration_follows_the_rule_with_its_own_plausible_range():
    c = Config.from_mapping({"retry-delay": 500, "batch-window": 5, "max-hold": 20, "timeout": 7200,
                             "retry_delay_max": 86400, "exit-grace": 2000}, env={})
    assert (c.retry_delay, c.batch_window, c.max_hold, c.timeout, c.retry_delay_max, c.exit_grace) == (
        0.5, 0.005, 0.02, 7200.0, 86400.0, 2.0)
    with pytest.raises(overseer.ConfigError, match="config :retry-delay 5 is read in milliseconds"):
        Config.from_mapping({"retry-delay": 5}, env={})
    assert Config.from_mapping({}, env={"OVERSEER_ISOLATE": "yes", "OVERSEER_TIMEOUT": "1.5"}).timeout == 1.5

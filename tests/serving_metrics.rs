//! `/metrics` on a live server: `promtool check metrics` accepts a scrape taken after
//! traffic, counters and histograms moved by exactly what the test sent, paths are route
//! labels (never raw), and the process metrics agree with `/proc` read from outside.

mod support;

use support::metrics::{promtool_check, Scrape};
use support::procfs;
use support::requests::{admission_review, get, mutate, request};
use support::Server;

/// The change of one series between two scrapes.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

#[test]
fn scrape_after_traffic_passes_promtool_and_moved_exactly() {
    let server = Server::start(&[]);
    let before = server.scrape();
    let mut client = server.connect();
    let mut send = |bytes: Vec<u8>, status: u16| {
        client.send(&bytes);
        let resp = client.read_response();
        assert_eq!(resp.status, status, "{}", resp.text());
    };
    for i in 0..2 {
        send(mutate(&admission_review(&format!("m-{i}"))), 200);
    }
    let json = ["Content-Type: application/json"];
    // Recorded under its route, without the query the API server adds.
    send(
        request(
            "POST",
            "/mutate?timeout=10s",
            &json,
            &admission_review("m-2"),
        ),
        200,
    );
    send(get("/mutate"), 405);
    send(get("/mutate"), 405);
    send(
        request("POST", "/mutate", &["Content-Type: text/plain"], b"{}"),
        400,
    );
    send(get("/secret/raw-path-1"), 404);
    send(get("/secret/raw-path-2"), 404);
    for _ in 0..4 {
        send(get("/health"), 200);
    }
    send(get("/ready"), 200);
    let after = server.scrape();

    let (clean, printed) = promtool_check(&after.text);
    assert!(
        clean && printed.is_empty(),
        "promtool check metrics: {printed}\n{}",
        after.text
    );

    let total = "http_request_total";
    // The first scrape is itself a recorded GET /metrics 200; probes are not recorded.
    assert_eq!(
        delta(
            &before,
            &after,
            total,
            &[("method", "POST"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            total,
            &[("method", "GET"), ("status", "405")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            total,
            &[("method", "POST"), ("status", "400")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            total,
            &[("method", "GET"), ("status", "404")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            total,
            &[("method", "GET"), ("status", "200")]
        ),
        1.0
    );

    let expected_counts = [
        ("POST", "/mutate", "200", 3.0),
        ("GET", "/mutate", "405", 2.0),
        ("POST", "/mutate", "400", 1.0),
        ("GET", "other", "404", 2.0),
        ("GET", "/metrics", "200", 1.0),
    ];
    for (method, path, status, count) in expected_counts {
        let labels = [("method", method), ("path", path), ("status", status)];
        let name = "http_request_duration_seconds_count";
        assert_eq!(delta(&before, &after, name, &labels), count, "{labels:?}");
        let inf = [labels[0], labels[1], labels[2], ("le", "+Inf")];
        let bucket = "http_request_duration_seconds_bucket";
        assert_eq!(
            delta(&before, &after, bucket, &inf),
            count,
            "{labels:?} +Inf bucket"
        );
        assert_eq!(
            after.value(bucket, &inf),
            after.value(name, &labels),
            "{labels:?}"
        );
    }
    let recorded: usize = after.all("http_request_duration_seconds_count").len();
    assert_eq!(
        recorded,
        expected_counts.len(),
        "unexpected series:\n{}",
        after.text
    );

    assert_eq!(
        delta(&before, &after, "connaisseur_requests_total", &[]),
        6.0
    );
    assert!(
        !after.text.contains("raw-path"),
        "a raw path became a label:\n{}",
        after.text
    );
}

#[test]
fn mutate_verdicts_are_counted() {
    let server = Server::start(&[]);
    let before = server.scrape();
    let mut client = server.connect();
    for i in 0..3 {
        client.send(&mutate(&admission_review(&format!("v-{i}"))));
        assert_eq!(client.read_response().status, 200);
    }
    // Not an AdmissionReview answer: not a verdict.
    client.send(&get("/mutate"));
    assert_eq!(client.read_response().status, 405);
    let after = server.scrape();
    let denied = [("allowed", "False"), ("status_code", "403")];
    let allowed = [("allowed", "True"), ("status_code", "202")];
    assert_eq!(
        delta(&before, &after, "mutate_requests_total", &denied),
        3.0,
        "the default configuration denies each AdmissionReview:\n{}",
        after.text
    );
    assert_eq!(
        delta(&before, &after, "mutate_requests_total", &allowed),
        0.0
    );
    assert_eq!(
        delta(&before, &after, "connaisseur_requests_total", &[]),
        4.0
    );
}

#[test]
fn request_durations_are_measured() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for i in 0..5 {
        client.send(&mutate(&admission_review(&format!("d-{i}"))));
        assert_eq!(client.read_response().status, 200);
    }
    let scrape = server.scrape();
    let labels = [("method", "POST"), ("path", "/mutate"), ("status", "200")];
    assert_eq!(
        scrape.value("http_request_duration_seconds_count", &labels),
        5.0
    );
    // Parsing and answering an AdmissionReview takes more than zero time, five times over.
    let sum = scrape.value("http_request_duration_seconds_sum", &labels);
    assert!(sum > 0.0 && sum < 50.0, "duration sum {sum}");
}

#[test]
fn histogram_buckets_are_cumulative_and_include_connaisseurs() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    for _ in 0..2 {
        client.send(&get("/nothing"));
        assert_eq!(client.read_response().status, 404);
    }
    let scrape = server.scrape();
    assert_eq!(
        scrape.type_of("http_request_duration_seconds"),
        Some("histogram")
    );
    let buckets: Vec<(f64, f64)> = scrape
        .all("http_request_duration_seconds_bucket")
        .into_iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "path" && v == "other"))
        .map(|s| {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| {
                    if v == "+Inf" {
                        f64::INFINITY
                    } else {
                        v.parse().expect("numeric le")
                    }
                })
                .expect("an le label");
            (le, s.value)
        })
        .collect();
    for le in [
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        10.0,
        15.0,
        20.0,
        30.0,
        f64::INFINITY,
    ] {
        assert!(buckets.iter().any(|(b, _)| *b == le), "no le={le} bucket");
    }
    assert!(
        buckets.iter().any(|(b, _)| *b < 0.1),
        "no bucket below 0.1 s"
    );
    for pair in buckets.windows(2) {
        assert!(
            pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1,
            "not cumulative: {pair:?}"
        );
    }
    assert_eq!(buckets.last().map(|b| b.1), Some(2.0));
}

#[test]
fn refused_requests_are_counted_by_reason() {
    let server = Server::start(&["--max-body-bytes", "1024", "--max-header-bytes", "2048"]);
    let refusals: [(&[u8], u16); 3] = [
        (b"NOT HTTP AT ALL\x01\r\n\r\n", 400),
        (
            b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n",
            413,
        ),
        (&[b'G', b'E', b'T', b' ', b'/'].repeat(1000), 431),
    ];
    for (bytes, status) in refusals {
        let mut client = server.connect();
        let _ = client.try_send(bytes);
        assert_eq!(client.read_response().status, status);
        assert!(client.closed_within(std::time::Duration::from_secs(10)));
    }
    server.wait_connections(0);
    let scrape = server.scrape();
    let rejected = "tastevin_connections_rejected_total";
    assert_eq!(scrape.value(rejected, &[("reason", "malformed")]), 1.0);
    assert_eq!(scrape.value(rejected, &[("reason", "too_large")]), 2.0);
    assert_eq!(scrape.value(rejected, &[("reason", "limit")]), 0.0);
}

#[test]
fn connections_open_counts_live_connections() {
    let server = Server::start(&[]);
    server.wait_connections(0);
    let mut held: Vec<_> = (0..3).map(|_| server.connect()).collect();
    for client in &mut held {
        client.send(&get("/health"));
        assert_eq!(client.read_response().status, 200);
    }
    assert_eq!(server.scrape().value("tastevin_connections_open", &[]), 4.0);
    drop(held);
    server.wait_connections(0);
    assert_eq!(server.scrape().value("tastevin_connections_open", &[]), 1.0);
}

#[test]
fn build_info_names_the_version() {
    let server = Server::start(&[]);
    let scrape = server.scrape();
    let info = scrape.all("tastevin_build_info");
    assert_eq!(info.len(), 1, "{}", scrape.text);
    assert_eq!(info[0].value, 1.0);
    assert!(
        info[0]
            .labels
            .iter()
            .any(|(k, v)| k == "version" && v == env!("CARGO_PKG_VERSION")),
        "{:?}",
        info[0].labels
    );
}

#[test]
fn process_metrics_agree_with_proc() {
    let server = Server::start(&[]);
    let pid = server.pid();
    server.wait_connections(0);
    let mut client = server.connect();
    let stat_before = procfs::stat(pid);
    client.send(&get("/metrics"));
    let resp = client.read_response();
    assert_eq!(resp.status, 200);
    let stat_after = procfs::stat(pid);
    // Read while the scrape's connection is still open, as it was during the scrape.
    let fds = procfs::open_fds(pid);
    let scrape = Scrape::parse(&resp.text());
    let metric = |name: &str| {
        scrape
            .find(name, &[])
            .unwrap_or_else(|| panic!("no {name} in\n{}", scrape.text))
    };

    assert_eq!(metric("process_open_fds"), fds as f64);
    assert_eq!(metric("process_max_fds"), procfs::max_fds(pid) as f64);

    let ticks = procfs::clock_ticks() as f64;
    let start = procfs::boot_time() as f64 + stat_after.start_ticks as f64 / ticks;
    assert!(
        (metric("process_start_time_seconds") - start).abs() < 0.05,
        "start time {} vs /proc {start}",
        metric("process_start_time_seconds")
    );

    let cpu = metric("process_cpu_seconds_total");
    let tick = 1.0 / ticks;
    assert!(
        cpu >= stat_before.cpu_ticks as f64 / ticks - tick
            && cpu <= stat_after.cpu_ticks as f64 / ticks + tick,
        "cpu {cpu} outside /proc's {} ..= {} ticks",
        stat_before.cpu_ticks,
        stat_after.cpu_ticks
    );

    let page = procfs::page_size();
    let rss = metric("process_resident_memory_bytes");
    let (low, high) = (
        stat_before.rss_pages.min(stat_after.rss_pages) * page,
        stat_before.rss_pages.max(stat_after.rss_pages) * page,
    );
    let slack = 1024.0 * 1024.0;
    assert!(
        rss >= low as f64 - slack && rss <= high as f64 + slack,
        "rss {rss} vs /proc {low}..={high}"
    );

    let vsize = metric("process_virtual_memory_bytes");
    let (low, high) = (
        stat_before.vsize_bytes.min(stat_after.vsize_bytes),
        stat_before.vsize_bytes.max(stat_after.vsize_bytes),
    );
    let slack = 16.0 * 1024.0 * 1024.0;
    assert!(
        vsize >= low as f64 - slack && vsize <= high as f64 + slack,
        "vsize {vsize} vs /proc {low}..={high}"
    );
}

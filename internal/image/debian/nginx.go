package debian

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// serviceFiles are a package's init, systemd, logrotate and packaging
// files, which nothing runs in a container.
var serviceFiles = []string{
	"/etc/init.d", "/etc/default", "/etc/logrotate.d", "/etc/ufw",
	"/lib/systemd", "/usr/lib/systemd", "/usr/share/apport", "/usr/share/vim",
}

// nginxConf is the official image's /etc/nginx/nginx.conf. Its log paths
// are symlinks to the container's stdout and stderr in the image, and real
// files when a volume is mounted on /var/log/nginx.
const nginxConf = `
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
`

// defaultConf is the official image's /etc/nginx/conf.d/default.conf.
const defaultConf = `server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
`

const errorPage = `<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
`

// Nginx is Debian's nginx laid out like the official "nginx" image:
// /etc/nginx/{nginx.conf,conf.d/default.conf} serving /usr/share/nginx/html
// on port 80, logs to /var/log/nginx (the container's stdout and stderr),
// workers as user nginx (101), stopped gracefully with SIGQUIT.
var Nginx = Spec{
	Packages: []string{"nginx", "nginx-common"},
	Skip:     append([]string{"/etc/nginx/sites-available", "/etc/nginx/sites-enabled", "/etc/nginx/snippets"}, serviceFiles...),
	Files: []File{
		{Path: "/etc/nginx/nginx.conf", Mode: 0o644, Data: nginxConf[1:]},
		{Path: "/etc/nginx/conf.d/default.conf", Mode: 0o644, Data: defaultConf},
		{Path: "/usr/share/nginx/html/50x.html", Mode: 0o644, Data: errorPage},
		{Path: "/var/log/nginx", Mode: 0o755, Dir: true},
		{Path: "/var/log/nginx/access.log", Link: "/dev/stdout"},
		{Path: "/var/log/nginx/error.log", Link: "/dev/stderr"},
		{Path: "/var/cache/nginx", Mode: 0o755, Dir: true},
		{Path: "/var/lib/nginx", Mode: 0o755, Dir: true},
		{Path: "/run", Mode: 0o755, Dir: true},
		{Path: "/var/run", Link: "/run"},
	},
	Users: []User{
		{Name: "www-data", UID: 33, GroupGID: 33, Home: "/var/www", Shell: "/usr/sbin/nologin"},
		{Name: "nginx", UID: 101, GroupGID: 101, Home: "/nonexistent"},
	},
	Config: v1.Config{
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGQUIT",
	},
}

// ExporterBinary is where the official nginx-prometheus-exporter image
// has its binary; in the image it links to Debian's.
const ExporterBinary = "/usr/bin/nginx-prometheus-exporter"

// NginxPrometheusExporter is Debian's prometheus-nginx-exporter laid out
// like the official "nginx/nginx-prometheus-exporter" image: the binary as
// the entrypoint, metrics on :9113/metrics, SCRAPE_URI and the other
// environment variables and -nginx.* flags as upstream. It retries nginx
// for ten seconds at start, since the pod's containers start together.
var NginxPrometheusExporter = Spec{
	Packages: []string{"prometheus-nginx-exporter"},
	Skip:     serviceFiles,
	Files: []File{
		{Path: ExporterBinary, Link: "prometheus-nginx-exporter"},
	},
	Users: []User{
		{Name: "prometheus", UID: 1001, GroupGID: 1001, Home: "/var/lib/prometheus"},
	},
	Config: v1.Config{
		Entrypoint:   []string{ExporterBinary},
		Env:          []string{"NGINX_RETRIES=10", "NGINX_RETRY_INTERVAL=1s"},
		User:         "1001:1001",
		ExposedPorts: map[string]struct{}{"9113/tcp": {}},
	},
}

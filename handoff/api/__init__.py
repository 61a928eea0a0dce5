"""The REST API for integrations (/api/v1/): a surface above the domain apps, like
the widget's and the console's sockets. The keys, API bots and their webhooks are
distributor's data; the endpoints call chats', distributor's and handoff's services."""

from django.urls import path

from chats import views

urlpatterns = [
    path("widget/<str:public_key>/", views.widget_frame, name="widget_frame"),
    path("widget/<str:public_key>/config", views.widget_config, name="widget_config"),
    path("widget/<str:public_key>/avatar/<str:kind>", views.widget_avatar, name="widget_avatar"),
    path("demo/", views.demo_page, name="demo"),
    path("demo/<str:public_key>/", views.demo_page, name="demo_chat"),
]

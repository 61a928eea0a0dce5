from django.urls import path

from chats import views, views_uploads

urlpatterns = [
    path("widget/<str:public_key>/", views.widget_frame, name="widget_frame"),
    path("widget/<str:public_key>/config", views.widget_config, name="widget_config"),
    path("widget/<str:public_key>/avatar/<str:kind>", views.widget_avatar, name="widget_avatar"),
    path("widget/<str:public_key>/uploads", views_uploads.widget_upload, name="widget_upload"),
    path("files/<str:signed>/", views_uploads.upload_file, name="upload_file"),
    path("demo/", views.demo_page, name="demo"),
    path("demo/<str:public_key>/", views.demo_page, name="demo_chat"),
]

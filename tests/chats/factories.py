import factory

from chats.enums import Messenger, ScriptKind
from chats.models import Chat, Client, Dialog, Script, Step, StepButton


class ChatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chat

    name = factory.Sequence(lambda n: f"Chat {n}")


class ScriptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Script

    chat = factory.SubFactory(ChatFactory)
    name = factory.Sequence(lambda n: f"Script {n}")
    kind = ScriptKind.REGULAR


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    script = factory.SubFactory(ScriptFactory)
    position = factory.Sequence(lambda n: n)
    text = factory.Faker("sentence")


class StepButtonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StepButton

    step = factory.SubFactory(StepFactory)
    label = factory.Sequence(lambda n: f"Button {n}")


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    chat = factory.SubFactory(ChatFactory)
    messenger = Messenger.WEB
    external_id = factory.Sequence(lambda n: f"visitor-{n}")


class DialogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dialog

    client = factory.SubFactory(ClientFactory)
    chat = factory.SelfAttribute("client.chat")
    messenger = factory.SelfAttribute("client.messenger")
